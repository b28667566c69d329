"""The status vocabulary of quantops.dev/v1alpha1: condition types, condition reasons, event reasons.

Typed so that a writer and a reader can never drift apart by a typo: the operator writes these,
the runbook, the dashboard and the tests read them. Members are ``StrEnum``s, so a condition read
back from the API (plain strings) compares equal to them: ``cond.reason == Reason.STARTING``.

Reasons produced by the shared decisions in ``quantops_api.orchestration`` (health, recycle) are
members too; ``Reason(decision.reason)`` fails loudly if one is added there and not here.
"""

from __future__ import annotations

from enum import StrEnum

from quantops_api.meta import Gate


class ConditionType(StrEnum):
    READY = "Ready"
    """Aggregate: the printer column. Agents: available pods with fresh heartbeats."""
    DEGRADED = "Degraded"
    GATED = "Gated"
    """True when the effective gate is anything but GO."""
    DEPENDENCIES_READY = "DependenciesReady"
    STRATEGIES_RESOLVED = "StrategiesResolved"
    RECYCLING = "Recycling"


class Reason(StrEnum):
    """CamelCase machine-readable reasons (Kubernetes API conventions)."""

    # lifecycle
    STARTING = "Starting"
    INVALID_SPEC = "InvalidSpec"
    # dependsOn ordering
    DEPENDENCIES_READY = "DependenciesReady"
    WAITING_FOR_DEPENDENCIES = "WaitingForDependencies"
    DEPENDENCY_CYCLE = "DependencyCycle"
    DEPENDENCY_MISSING = "DependencyMissing"
    # spec.strategies
    STRATEGIES_RESOLVED = "StrategiesResolved"
    STRATEGY_NOT_FOUND = "StrategyNotFound"
    # health (orchestration.health_decision)
    HEALTHY = "Healthy"
    UNHEALTHY = "Unhealthy"
    RECOVERY_HOLD = "RecoveryHold"
    GATE_FORBIDS = "GateForbids"
    # max-uptime recycle (orchestration.recycle_decision)
    NO_RECYCLE_POLICY = "NoRecyclePolicy"
    WITHIN_MAX_UPTIME = "WithinMaxUptime"
    RECYCLE_DEFERRED = "RecycleDeferred"
    MAX_UPTIME_REACHED = "MaxUptimeReached"
    # the Gated condition: one reason per gate
    GATE_GO = "GateGo"
    GATE_CHECK = "GateCheck"
    GATE_PAUSE = "GatePause"
    GATE_STOP = "GateStop"
    # Strategy and RiskPolicy
    RESOLVED = "Resolved"
    RISK_POLICY_NOT_FOUND = "RiskPolicyNotFound"
    ACCEPTED = "Accepted"

    @classmethod
    def for_gate(cls, gate: Gate) -> Reason:
        return _GATE_REASONS[gate]


_GATE_REASONS = {
    Gate.GO: Reason.GATE_GO,
    Gate.CHECK: Reason.GATE_CHECK,
    Gate.PAUSE: Reason.GATE_PAUSE,
    Gate.STOP: Reason.GATE_STOP,
}

NOT_STARTED = frozenset(
    {
        Reason.STARTING,
        Reason.WAITING_FOR_DEPENDENCIES,
        Reason.DEPENDENCY_CYCLE,
        Reason.DEPENDENCY_MISSING,
        Reason.STRATEGY_NOT_FOUND,
    }
)
"""Ready reasons of an agent that has never been Ready (no recovery hold applies to it)."""


class EventReason(StrEnum):
    """Reasons of the Kubernetes Events the operator posts."""

    INVALID_SPEC = "InvalidSpec"
    APPLY_FAILED = "ApplyFailed"
    EFFECTIVE_GATE_CHANGED = "EffectiveGateChanged"
    GATE_CHANGED = "GateChanged"
    SCALED = "Scaled"
    RESTARTING = "Restarting"
    RECYCLING = "Recycling"
    RECOVERED = "Recovered"
