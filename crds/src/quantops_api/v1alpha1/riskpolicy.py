"""RiskPolicy: limits for strategies selected by label, or for everything when named `global`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from quantops_api.meta import ApiModel, Condition, CustomResource, Gate

GLOBAL_POLICY = "global"


class VarLimits(ApiModel):
    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.esLimit) || !has(self.varLimit) || self.esLimit >= self.varLimit",
                    "message": "var.esLimit must be >= var.varLimit (expected shortfall is never below VaR)",
                },
            ]
        }
    }

    confidence: float = Field(default=0.99, gt=0, lt=1, description="VaR/ES confidence level in (0, 1).")
    method: Literal["historical", "parametric", "ewma"] = "historical"
    window: int = Field(default=500, ge=20)
    var_limit: float | None = Field(default=None, gt=0, description="Max one-period VaR in quote currency.")
    es_limit: float | None = Field(
        default=None, gt=0, description="Max expected shortfall in quote currency."
    )

    @model_validator(mode="after")
    def _es(self) -> Self:
        if self.var_limit is not None and self.es_limit is not None and self.es_limit < self.var_limit:
            raise ValueError("var.esLimit must be >= var.varLimit (expected shortfall is never below VaR)")
        return self


class UnwindRung(ApiModel):
    style: Literal["passive", "aggressive", "market"]
    after_seconds: float = Field(ge=0)
    max_fraction: float = Field(gt=0, le=1, description="Share of the remaining position per child order.")


class FeeGuard(ApiModel):
    maker_fee_bps: float = Field(default=10.0, ge=0)
    taker_fee_bps: float = Field(default=10.0, ge=0)
    min_edge_over_cost_bps: float = Field(default=2.0, ge=0)


class RiskPolicySpec(ApiModel):
    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.maxPairExposure) || !has(self.maxGrossExposure) || "
                    "self.maxPairExposure <= self.maxGrossExposure",
                    "message": "maxPairExposure must be <= maxGrossExposure",
                },
            ]
        }
    }

    selector: dict[str, str] = Field(
        default_factory=dict, description="Strategy labels this policy applies to."
    )
    max_pair_exposure: float | None = Field(default=None, gt=0, description="Hard per-pair notional limit.")
    pair_exposure_overrides: dict[str, float] = Field(default_factory=dict)
    max_gross_exposure: float | None = Field(default=None, gt=0)
    max_order_notional: float | None = Field(
        default=None, gt=0, description="Largest notional of one order, in its quote currency."
    )
    max_order_quantity: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict,
        description="Pair → largest quantity of one order, in base units: the cap a price glitch near "
        "zero cannot pass (its notional, priced at that same price, passes every notional limit).",
    )
    concentration_cap: float = Field(default=0.5, gt=0, le=1, description="Max share of gross in one pair.")
    risk_budget: float = Field(default=10000.0, ge=0, description="Capital the allocator may hand out.")
    max_consecutive_losses: int = Field(default=5, ge=1)
    loss_cooldown_seconds: float = Field(default=900.0, ge=0)
    max_drawdown: float = Field(default=0.1, gt=0, lt=1, description="Kill switch from the equity peak.")
    var: VarLimits = Field(default_factory=VarLimits)
    cash_floor: float = Field(default=0.0, ge=0, description="Below this free cash: emergency STOP.")
    unwind_ladder: list[UnwindRung] = Field(default_factory=list, max_length=10)
    max_trades_per_minute: int = Field(default=30, ge=1)
    max_orders_per_minute: int = Field(default=120, ge=1)
    stale_order_ttl_seconds: float = Field(default=120.0, gt=0)
    max_cancel_to_fill_ratio: float = Field(default=20.0, gt=0)
    fee_guard: FeeGuard = Field(default_factory=FeeGuard)
    gate: Gate = Gate.GO

    @model_validator(mode="after")
    def _cross(self) -> Self:
        if (
            self.max_pair_exposure is not None
            and self.max_gross_exposure is not None
            and self.max_pair_exposure > self.max_gross_exposure
        ):
            raise ValueError("maxPairExposure must be <= maxGrossExposure")
        return self


class BudgetChange(ApiModel):
    at: dt.datetime
    explanation: str


class RiskPolicyStatus(ApiModel):
    utilisation: dict[str, float] = Field(default_factory=dict)
    breaches: list[str] = Field(default_factory=list)
    last_budget_change: BudgetChange | None = None
    effective_gate: Gate | None = None
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = None


class RiskPolicy(CustomResource):
    kind_name: ClassVar[str] = "RiskPolicy"
    plural: ClassVar[str] = "riskpolicies"
    short_names: ClassVar[tuple[str, ...]] = ("qrp", "rp")
    printer_columns: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Gate", "type": "string", "jsonPath": ".spec.gate"},
        {"name": "MaxDD", "type": "number", "jsonPath": ".spec.maxDrawdown"},
        {"name": "Breaches", "type": "string", "jsonPath": ".status.breaches", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )

    kind: Literal["RiskPolicy"] = "RiskPolicy"
    spec: RiskPolicySpec
    status: RiskPolicyStatus | None = None
