"""A pod slower to start than staleAfterSeconds is starting, not silent (seen on a loaded real node).

Silence of an agent that never heartbeated counts only once its pods are available, from the
moment they became available (the Deployment's Available condition); before that the kubelet's
probes and CrashLoopBackOff are what decide.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from quantops_api import Agent
from quantops_api.meta import get_condition
from quantops_api.v1alpha1.conditions import ConditionType, EventReason, Reason
from quantops_operator.reconcile.agent import LeaseInfo, Observed, Plan, plan

T0 = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def stamp(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def deployment(ready: int, available_at: dt.datetime | None = None) -> dict[str, Any]:
    conds = (
        [{"type": "Available", "status": "True", "lastTransitionTime": stamp(available_at)}]
        if available_at
        else []
    )
    return {
        "metadata": {"name": "a-agent", "creationTimestamp": stamp(T0)},
        "spec": {"replicas": 1},
        "status": {"replicas": 1, "readyReplicas": ready, "conditions": conds},
    }


def run(dep: dict[str, Any], now: float, leases: tuple[LeaseInfo, ...] = ()) -> Plan:
    agent = Agent.from_wire(
        {
            "apiVersion": "quantops.dev/v1alpha1",
            "kind": "Agent",
            "metadata": {"name": "a", "uid": "uid-a", "generation": 1},
            "spec": {"role": "feed", "backoff": {"staleAfterSeconds": 20, "jitter": 0}},
        }
    )
    obs = Observed(
        agent=agent,
        graph={"a": []},
        ready={},
        global_gate=None,
        deployment=dep,
        leases=leases,
        api_contact_since=at(-86400),  # the operator has seen the API all along
    )
    return plan(obs, at(now), random.Random(0))


def restarted(p: Plan) -> bool:
    return EventReason.RESTARTING in [e.reason for e in p.events]


def test_a_pod_still_starting_after_the_grace_is_not_restarted() -> None:
    p = run(deployment(ready=0), now=90)
    assert not restarted(p) and p.status.restarts == 0
    assert p.status.phase == "Starting"
    ready = get_condition(p.status.conditions, ConditionType.READY)
    assert ready is not None and ready.reason == Reason.STARTING


def test_the_grace_counts_from_when_the_pods_became_available() -> None:
    assert not restarted(run(deployment(ready=1, available_at=at(50)), now=65))
    late = run(deployment(ready=1, available_at=at(50)), now=75)  # 25 s up, never a heartbeat
    assert restarted(late) and late.status.restarts == 1
    assert "heartbeat stale" in (late.status.last_restart_reason or "")


def test_an_agent_that_heartbeated_once_is_judged_by_its_heartbeat() -> None:
    lease = (LeaseInfo(holder="a-agent-0", renew_time=at(5)),)
    assert restarted(run(deployment(ready=1, available_at=at(4)), now=30, leases=lease))


def test_liveness_waits_for_a_slow_start() -> None:
    """The pod template's startupProbe gives an agent STARTUP_SECONDS to serve before liveness counts."""
    from quantops_operator.resources import deployments

    agent = Agent.from_wire(
        {
            "apiVersion": "quantops.dev/v1alpha1",
            "kind": "Agent",
            "metadata": {"name": "a", "uid": "uid-a", "generation": 1},
            "spec": {"role": "feed", "probes": {"periodSeconds": 5, "failureThreshold": 3}},
        }
    )
    c = deployments.pod_template(agent, "img", None)["spec"]["containers"][0]
    startup = c["startupProbe"]
    assert startup["httpGet"] == c["livenessProbe"]["httpGet"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= deployments.STARTUP_SECONDS
    assert c["livenessProbe"]["failureThreshold"] == 3  # unchanged once started
