"""Agent: one long-running component (a Deployment on Kubernetes, a process under `quantops up`).

Cross-field rules are written twice on purpose: as pydantic validators (local mode, agents) and
as CEL rules the API server enforces (``x-kubernetes-validations``); tests keep them in step.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from quantops_api.meta import ApiModel, Condition, CustomResource, Gate
from quantops_api.v1alpha1.roleconfig import (
    RoleConfig,
    RoleConfigError,
    config_rules,
    config_schema,
    role_config,
)

AgentRole = Literal["trader", "pipeline", "supervisor", "feed", "venue-sim", "canary"]
AgentPhase = Literal[
    "Pending", "Waiting", "Starting", "Running", "Degraded", "BackingOff", "Recycling", "Failed"
]


class AutoscalingSpec(ApiModel):
    """Workers sized from the queue length agents report in their heartbeat Leases."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.minReplicas <= self.maxReplicas",
                    "message": "autoscaling.minReplicas must be <= autoscaling.maxReplicas",
                }
            ]
        }
    }

    min_replicas: int = Field(default=1, ge=0, le=100)
    max_replicas: int = Field(default=4, ge=1, le=100)
    target_queue_per_worker: int = Field(default=10, ge=1, description="Queue items one worker should hold.")
    cooldown_seconds: int = Field(default=60, ge=0, description="Minimum time between two resizes.")

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscaling.minReplicas must be <= autoscaling.maxReplicas")
        return self


class ProbeSpec(ApiModel):
    port: int = Field(default=8080, ge=1, le=65535)
    liveness_path: str = Field(default="/healthz", pattern=r"^/")
    readiness_path: str = Field(default="/readyz", pattern=r"^/")
    period_seconds: int = Field(default=5, ge=1, le=300)
    failure_threshold: int = Field(default=3, ge=1, le=100)


class RecycleSpec(ApiModel):
    """Max-uptime recycle; deferred while orders are open, forced at the hard deadline."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.hardDeadlineSeconds) || "
                    "self.hardDeadlineSeconds >= self.maxUptimeSeconds",
                    "message": "recycle.hardDeadlineSeconds must be >= recycle.maxUptimeSeconds",
                }
            ]
        }
    }

    max_uptime_seconds: int = Field(ge=60, description="Rolling restart after this uptime.")
    hard_deadline_seconds: int | None = Field(
        default=None, ge=60, description="Recycle even with open orders."
    )

    @model_validator(mode="after")
    def _deadline(self) -> Self:
        if self.hard_deadline_seconds is not None and self.hard_deadline_seconds < self.max_uptime_seconds:
            raise ValueError("recycle.hardDeadlineSeconds must be >= recycle.maxUptimeSeconds")
        return self


class BackoffSpec(ApiModel):
    """Exponential restart backoff with cap and jitter for crashing or silent agents."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.initialSeconds <= self.maxSeconds",
                    "message": "backoff.initialSeconds must be <= backoff.maxSeconds",
                }
            ]
        }
    }

    initial_seconds: float = Field(default=1.0, gt=0)
    max_seconds: float = Field(default=300.0, gt=0)
    factor: float = Field(default=2.0, ge=1.0, le=10.0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0, description="Fraction of the delay drawn at random.")
    stale_after_seconds: float = Field(
        default=20.0, gt=0, description="Heartbeat age that counts as a failure."
    )
    reset_after_seconds: float = Field(default=600.0, gt=0, description="Healthy time that resets the count.")

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.initial_seconds > self.max_seconds:
            raise ValueError("backoff.initialSeconds must be <= backoff.maxSeconds")
        return self


class ShutdownSpec(ApiModel):
    termination_grace_seconds: int = Field(default=30, ge=1, le=3600)
    pre_stop_sleep_seconds: int = Field(default=2, ge=0, le=60)


CONFIG_RULES: list[Any] = list(config_rules())


def _config_json_schema(schema: dict[str, Any]) -> None:
    """spec.config in the CRD: every role's keys, typed (see roleconfig.config_schema)."""
    schema.clear()
    schema.update(config_schema())


class AgentSpec(ApiModel):
    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.shutdown) || !has(self.recycle) || "
                    "self.shutdown.terminationGraceSeconds < self.recycle.maxUptimeSeconds",
                    "message": "shutdown.terminationGraceSeconds must be < recycle.maxUptimeSeconds",
                },
                {
                    "rule": "self.role != 'trader' || ((!has(self.replicas) || self.replicas <= 1) "
                    "&& !has(self.autoscaling))",
                    "message": "a trader runs as one pod: replicas must be 0 or 1 and autoscaling unset",
                    "fieldPath": ".replicas",
                },
                # spec.config: no key of another role (roleconfig.config_rules)
                *CONFIG_RULES,
            ]
        }
    }

    role: AgentRole = Field(
        description="Which agent program runs: trader, pipeline, supervisor, feed, venue-sim, canary."
    )
    image: str | None = Field(default=None, description="Container image; the operator default when unset.")
    replicas: int = Field(default=1, ge=0, le=100)
    autoscaling: AutoscalingSpec | None = None
    depends_on: list[str] = Field(
        default_factory=list,
        max_length=32,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Agents that must be Ready before this one starts.",
    )
    strategies: list[str] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Strategy objects a trader runs.",
    )
    probes: ProbeSpec = Field(default_factory=ProbeSpec)
    recycle: RecycleSpec | None = None
    backoff: BackoffSpec = Field(default_factory=BackoffSpec)
    shutdown: ShutdownSpec = Field(default_factory=ShutdownSpec)
    heartbeat_seconds: float = Field(default=5.0, gt=0, le=60)
    recovery_hold_seconds: float = Field(
        default=30.0, ge=0, description="Healthy time before Degraded returns to Ready."
    )
    api_loss_grace_seconds: float = Field(
        default=15.0, gt=0, description="Fail closed to PAUSE after losing the API this long."
    )
    gate: Gate = Field(default=Gate.GO, description="STOP, PAUSE, CHECK or GO for this agent.")
    config: dict[str, Any] = Field(
        default_factory=dict,
        # every role's keys, typed (roleconfig.config_schema); config_rules() refuse another role's
        json_schema_extra=_config_json_schema,
    )

    @field_validator("config")
    @classmethod
    def _config_keys(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        role = info.data.get("role")
        if role is not None:  # an invalid role is reported on spec.role
            try:
                role_config(role, v)
            except RoleConfigError as e:
                raise ValueError(str(e)) from None
        return v

    def typed_config(self) -> RoleConfig:
        """``config`` as this role's model (already validated when the spec was)."""
        return role_config(self.role, self.config)

    @model_validator(mode="after")
    def _cross(self) -> Self:
        if (
            self.recycle is not None
            and self.shutdown.termination_grace_seconds >= self.recycle.max_uptime_seconds
        ):
            raise ValueError("shutdown.terminationGraceSeconds must be < recycle.maxUptimeSeconds")
        if self.role == "trader" and (self.replicas > 1 or self.autoscaling is not None):
            raise ValueError(
                "a trader runs as one pod: replicas must be 0 or 1 and autoscaling unset "
                "(two traders would trade the same strategies with separate risk books)"
            )
        for field, values in (("dependsOn", self.depends_on), ("strategies", self.strategies)):
            if len(set(values)) != len(values):
                raise ValueError(f"{field} has duplicate entries")
        return self


class AgentStatus(ApiModel):
    phase: AgentPhase | None = None
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    effective_gate: Gate | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    desired_replicas: int | None = None
    queue_length: int | None = None
    last_heartbeat: dt.datetime | None = None
    restarts: int | None = None
    backoff_until: dt.datetime | None = None
    started_at: dt.datetime | None = None
    last_restart: dt.datetime | None = None
    last_restart_reason: str | None = None
    last_scale_time: dt.datetime | None = None
    healthy_since: dt.datetime | None = None
    template_hash: str | None = None
    observed_generation: int | None = None


class Agent(CustomResource):
    kind_name: ClassVar[str] = "Agent"
    plural: ClassVar[str] = "agents"
    short_names: ClassVar[tuple[str, ...]] = ("qa", "qagent")
    printer_columns: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Role", "type": "string", "jsonPath": ".spec.role"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Gate", "type": "string", "jsonPath": ".status.effectiveGate"},
        {"name": "Replicas", "type": "integer", "jsonPath": ".status.readyReplicas"},
        {"name": "Restarts", "type": "integer", "jsonPath": ".status.restarts", "priority": 1},
        {
            "name": "Reason",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
            "priority": 1,
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )

    kind: Literal["Agent"] = "Agent"
    spec: AgentSpec
    status: AgentStatus | None = None
