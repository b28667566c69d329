"""Strategy: what to trade and how; loaded by import path so one agent image serves them all."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from quantops_api.meta import ApiModel, Condition, CustomResource, Gate, Stage

Timeframe = Literal["1m", "5m", "15m", "1h", "4h", "1d"]


class PromotionPolicy(ApiModel):
    """Evidence thresholds a strategy must meet before each promotion."""

    min_trades: int = Field(default=30, ge=0)
    min_sharpe: float = Field(default=0.5)
    max_drawdown: float = Field(default=0.2, gt=0, le=1)
    min_warm_hours: float = Field(default=24.0, ge=0)
    cross_splits: int = Field(default=4, ge=2, le=20, description="Walk-forward splits required for HOT.")
    auto_promote: bool = True


class StrategySpec(ApiModel):
    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.entrypoint.contains(':')",
                    "message": "entrypoint must look like 'package.module:Class'",
                },
            ]
        }
    }

    entrypoint: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="Strategy class as 'package.module:Class'."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
        description="Validated by the strategy's own params model.",
    )
    pairs: list[Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+$")]] = Field(
        min_length=1, max_length=200, description="Instruments as BASE/QUOTE, e.g. BTC/USDT."
    )
    venues: list[str] = Field(default_factory=lambda: ["venue-sim"], min_length=1)
    timeframes: list[Timeframe] = Field(default_factory=lambda: list[Timeframe](["1m"]))
    desired_stage: Stage = Field(
        default=Stage.COLD, description="The highest stage the pipeline may promote to."
    )
    promotion: PromotionPolicy = Field(default_factory=PromotionPolicy)
    gate: Gate = Gate.GO
    risk_policy_ref: str | None = Field(
        default=None, description="RiskPolicy name; the global one always applies."
    )


class StageTransition(ApiModel):
    from_stage: Stage | None = None
    to_stage: Stage
    reason: str
    at: dt.datetime


class StrategyStatus(ApiModel):
    stage: Stage | None = None
    fingerprint: str | None = None
    evidence: dict[str, Any] = Field(
        default_factory=dict, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )
    leaderboard_score: float | None = None
    last_pipeline_run: str | None = None
    rejection_count: int | None = None
    effective_gate: Gate | None = None
    transitions: list[StageTransition] = Field(default_factory=list, max_length=50)
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = None


class Strategy(CustomResource):
    kind_name: ClassVar[str] = "Strategy"
    plural: ClassVar[str] = "strategies"
    short_names: ClassVar[tuple[str, ...]] = ("qs", "strat")
    printer_columns: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Stage", "type": "string", "jsonPath": ".status.stage"},
        {"name": "Gate", "type": "string", "jsonPath": ".status.effectiveGate"},
        {"name": "Score", "type": "number", "jsonPath": ".status.leaderboardScore"},
        {"name": "Entrypoint", "type": "string", "jsonPath": ".spec.entrypoint", "priority": 1},
        {"name": "Fingerprint", "type": "string", "jsonPath": ".status.fingerprint", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )

    kind: Literal["Strategy"] = "Strategy"
    spec: StrategySpec
    status: StrategyStatus | None = None
