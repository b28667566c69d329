"""Typed condition vocabulary and stable status: a reconcile pass that finds nothing changed writes nothing.

Each scenario runs the pure plan once, feeds the status back the way the API returns it (wire JSON),
runs it again later with the same observations and asserts that the status merge patch the
controller would send (controllers.agent.status_patch) is None. Messages must therefore not carry
counters or clocks that move on every pass (an uptime, "healthy for 12s").
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from quantops_api import Agent, AgentStatus, Gate
from quantops_api.meta import get_condition
from quantops_api.orchestration import health_decision, recycle_decision
from quantops_api.v1alpha1.agent import RecycleSpec
from quantops_api.v1alpha1.conditions import NOT_STARTED, ConditionType, EventReason, Reason
from quantops_operator.controllers.agent import status_patch
from quantops_operator.reconcile.agent import LeaseInfo, Observed, Plan, invalid_spec_status, plan

T0 = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
STALE_AFTER = 60


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def agent(status: dict[str, Any] | None = None, **spec: Any) -> Agent:
    spec.setdefault("backoff", {"staleAfterSeconds": STALE_AFTER, "jitter": 0})
    body: dict[str, Any] = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": "a", "uid": "uid-a", "generation": 1},
        "spec": {"role": "pipeline", **spec},
    }
    if status is not None:
        body["status"] = status
    return Agent.from_wire(body)


def deployment(ready: int = 1) -> dict[str, Any]:
    created = T0.isoformat().replace("+00:00", "Z")
    return {
        "metadata": {"name": "a-agent", "creationTimestamp": created},
        "spec": {"replicas": 1},
        "status": {"replicas": 1, "readyReplicas": ready},
    }


def lease(renew: float, **kw: Any) -> LeaseInfo:
    return LeaseInfo(holder="a-agent-0", renew_time=at(renew), **kw)


def run(obs: Observed, now: float, wire: dict[str, Any] | None) -> tuple[Plan, dict[str, Any]]:
    """One reconcile pass from the status as the API stores it (wire JSON, or none yet)."""
    a = agent(wire, **obs.agent.spec.model_dump(mode="json", by_alias=True, exclude_none=True))
    p = plan(Observed(**{**obs.__dict__, "agent": a}), at(now), random.Random(0))
    return p, p.status.to_wire()


def observe(spec: dict[str, Any] | None = None, **kw: Any) -> Observed:
    a = agent(**(spec or {}))
    kw.setdefault("graph", {"a": list(a.spec.depends_on)})
    kw.setdefault("ready", {})
    kw.setdefault("global_gate", None)
    kw.setdefault("deployment", None)
    return Observed(agent=a, **kw)


SCENARIOS: dict[str, tuple[Observed, tuple[float, ...]]] = {
    "starting (no heartbeat yet)": (observe(deployment=deployment(ready=0)), (1, 20)),
    "running and Ready": (observe(deployment=deployment(), leases=(lease(0),)), (1, 30)),
    "Ready under a STOP gate": (
        observe(deployment=deployment(), leases=(lease(0),), global_gate=Gate.STOP),
        (1, 30),
    ),
    "within max uptime": (
        observe({"recycle": {"maxUptimeSeconds": 3600}}, deployment=deployment(), leases=(lease(0),)),
        (1, 30, 50),
    ),
    "waiting for a dependency": (
        observe({"dependsOn": ["feed"]}, graph={"a": ["feed"], "feed": []}, ready={"feed": False}),
        (1, 300),
    ),
    "on a dependency cycle": (
        observe({"dependsOn": ["b"]}, graph={"a": ["b"], "b": ["a"]}, ready={}),
        (1, 300),
    ),
    "naming a missing Strategy": (
        observe({"strategies": ["ghost"]}, strategies=frozenset({"real"})),
        (1, 300),
    ),
    "missing pods (Degraded)": (
        observe(deployment=deployment(ready=0), leases=(lease(0),)),
        (1, 10),
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_second_pass_with_nothing_changed_writes_no_status(name: str) -> None:
    obs, passes = SCENARIOS[name]
    _, wire = run(obs, passes[0], None)
    for now in passes[1:]:
        _, again = run(obs, now, wire)
        assert status_patch(wire, again) is None, f"{name}: pass at +{now}s would write {again}"


def _ready_then_degraded(hold: float) -> tuple[Observed, dict[str, Any]]:
    obs = observe({"recoveryHoldSeconds": hold}, deployment=deployment(), leases=(lease(0),))
    _, wire = run(obs, 1, None)
    _, wire = run(obs, 100, wire)  # silent past staleAfterSeconds: restart, Degraded
    ready = get_condition(agent(wire).status.conditions, ConditionType.READY)  # type: ignore[union-attr]
    assert ready is not None and ready.reason == Reason.UNHEALTHY
    return obs, wire


def test_a_recovery_hold_is_not_rewritten_every_pass() -> None:
    """ "healthy for 12s of 30s" in the message rewrote the status on every pass of the hold."""
    obs, wire = _ready_then_degraded(hold=30)
    healthy = Observed(**{**obs.__dict__, "leases": (lease(109),)})
    p, wire = run(healthy, 110, wire)
    assert get_condition(p.status.conditions, ConditionType.READY).reason == Reason.RECOVERY_HOLD  # type: ignore[union-attr]
    for now in (115, 125, 139):
        p, again = run(healthy, now, wire)
        assert status_patch(wire, again) is None, now
    p, again = run(healthy, 141, wire)  # the hold is over: that is a change, and it is written
    assert get_condition(p.status.conditions, ConditionType.READY).reason == Reason.HEALTHY  # type: ignore[union-attr]
    assert status_patch(wire, again) is not None


def test_a_deferred_recycle_is_not_rewritten_every_pass() -> None:
    obs = observe(
        {"recycle": {"maxUptimeSeconds": 3600, "hardDeadlineSeconds": 7200}},
        deployment=deployment(),
        leases=(lease(0),),
    )
    _, wire = run(obs, 1, None)
    deferred = Observed(**{**obs.__dict__, "leases": (lease(3990, open_orders=2),)})
    p, wire = run(deferred, 4000, wire)
    recycling = get_condition(p.status.conditions, ConditionType.RECYCLING)
    assert recycling is not None and recycling.reason == Reason.RECYCLE_DEFERRED
    assert "2 open orders" in recycling.message
    _, again = run(deferred, 4040, wire)
    assert status_patch(wire, again) is None


def test_an_invalid_spec_status_is_written_once() -> None:
    first = invalid_spec_status(None, ["spec.x: bad"], 1, at(0))
    second = invalid_spec_status(AgentStatus.model_validate(first.to_wire()), ["spec.x: bad"], 1, at(60))
    assert status_patch(first.to_wire(), second.to_wire()) is None
    ready = get_condition(second.conditions, ConditionType.READY)
    assert ready is not None and ready.reason == Reason.INVALID_SPEC


# -- the vocabulary ---------------------------------------------------------------------------------


def test_every_reason_the_shared_decisions_return_is_a_typed_reason() -> None:
    """Reason(decision.reason) is what the operator writes: a new reason in orchestration must be added."""
    recycle = RecycleSpec.model_validate({"maxUptimeSeconds": 100, "hardDeadlineSeconds": 200})
    reasons = {
        recycle_decision(None, None, T0, 0).reason,
        recycle_decision(recycle, at(-10), T0, 0).reason,
        recycle_decision(recycle, at(-150), T0, 1).reason,
        recycle_decision(recycle, at(-150), T0, 0).reason,
    }
    kw: dict[str, Any] = {"hold_seconds": 30, "now": T0}
    reasons |= {
        health_decision(healthy_now=False, was_degraded=False, healthy_since=None, gate=Gate.GO, **kw).reason,
        health_decision(healthy_now=True, was_degraded=True, healthy_since=T0, gate=Gate.STOP, **kw).reason,
        health_decision(healthy_now=True, was_degraded=True, healthy_since=T0, gate=Gate.GO, **kw).reason,
        health_decision(healthy_now=True, was_degraded=False, healthy_since=None, gate=Gate.GO, **kw).reason,
    }
    assert {Reason(r) for r in reasons} == {
        Reason.NO_RECYCLE_POLICY,
        Reason.WITHIN_MAX_UPTIME,
        Reason.RECYCLE_DEFERRED,
        Reason.MAX_UPTIME_REACHED,
        Reason.UNHEALTHY,
        Reason.GATE_FORBIDS,
        Reason.RECOVERY_HOLD,
        Reason.HEALTHY,
    }


def test_gate_reasons_keep_their_wire_spelling() -> None:
    assert [Reason.for_gate(g) for g in Gate] == ["GateStop", "GatePause", "GateCheck", "GateGo"]


def test_typed_constants_compare_equal_to_what_the_api_returns() -> None:
    """Readers compare plain strings from the API with the constants; writers send plain strings."""
    _, wire = run(SCENARIOS["running and Ready"][0], 1, None)
    by_type = {c["type"]: c for c in wire["conditions"]}
    assert by_type["Ready"]["reason"] == Reason.HEALTHY and type(by_type["Ready"]["reason"]) is str
    assert set(by_type) == {
        ConditionType.READY,
        ConditionType.DEGRADED,
        ConditionType.GATED,
        ConditionType.DEPENDENCIES_READY,
        ConditionType.RECYCLING,
    }
    assert "Starting" in NOT_STARTED and "Healthy" not in NOT_STARTED
    assert EventReason.RESTARTING == "Restarting"
