"""The pure Agent reconcile `plan(obs, now, rng)`: a table of observed states, fake clock, seeded RNG.

Each multi-step scenario feeds the returned status back as `agent.status`, which is exactly what
the kopf handler does between two reconciles.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from quantops_api import Agent, AgentStatus, Gate
from quantops_api.meta import get_condition
from quantops_operator.reconcile.agent import LeaseInfo, Observed, Plan, PodInfo, plan
from quantops_operator.resources import deployments
from quantops_operator.resources.names import ANN_RESTARTED_AT, ANN_TEMPLATE_HASH

T0 = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def make_agent(name: str = "a", status: AgentStatus | None = None, **spec: Any) -> Agent:
    body: dict[str, Any] = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name, "uid": f"uid-{name}", "generation": 1},
        "spec": {"role": "pipeline", **spec},
    }
    agent = Agent.model_validate(body)
    return agent.model_copy(update={"status": status}) if status is not None else agent


def running_deployment(ready: int = 1, replicas: int = 1, created: dt.datetime = T0) -> dict[str, Any]:
    return {
        "metadata": {"name": "a-agent", "creationTimestamp": created.isoformat().replace("+00:00", "Z")},
        "status": {"replicas": replicas, "readyReplicas": ready},
    }


def lease(renew: dt.datetime | None, **kw: Any) -> LeaseInfo:
    return LeaseInfo(holder=kw.pop("holder", "a-agent-0"), renew_time=renew, **kw)


def observe(agent: Agent, **kw: Any) -> Observed:
    kw.setdefault("graph", {agent.name: list(agent.spec.depends_on)})
    kw.setdefault("ready", {})
    kw.setdefault("global_gate", Gate.GO)  # a platform has its global policy (missing: below)
    kw.setdefault("deployment", None)
    kw.setdefault("api_contact_since", T0 - dt.timedelta(days=1))  # the API answering all along
    return Observed(agent=agent, **kw)


def again(prev: Plan, obs: Observed, now: dt.datetime, seed: int = 0, **changes: Any) -> Plan:
    """Next reconcile: the previous status is fed back; `changes` replace observed fields."""
    agent = obs.agent.model_copy(update={"status": prev.status})
    fields = {**obs.__dict__, "agent": agent, **changes}
    return plan(Observed(**fields), now, random.Random(seed))


def cond(p: Plan, type_: str) -> tuple[str, str]:
    c = get_condition(p.status.conditions, type_)
    assert c is not None, f"no {type_} condition"
    return c.status, c.reason


def reasons(p: Plan) -> list[str]:
    return [e.reason for e in p.events]


def pod_annotations(p: Plan) -> dict[str, str]:
    assert p.deployment is not None
    return dict(p.deployment["spec"]["template"]["metadata"]["annotations"])


# -- 11/12: dependency ordering -----------------------------------------------------------------


def test_dependent_waits_for_unready_dependency() -> None:
    agent = make_agent(dependsOn=["feed"])
    obs = observe(agent, graph={"a": ["feed"], "feed": []}, ready={"feed": False})
    p = plan(obs, T0, random.Random(0))
    assert p.deployment is None
    assert p.status.phase == "Waiting"
    assert cond(p, "Ready") == ("False", "WaitingForDependencies")
    assert cond(p, "DependenciesReady") == ("False", "WaitingForDependencies")
    assert "feed" in get_condition(p.status.conditions, "Ready").message  # type: ignore[union-attr]


def test_dependency_not_in_ready_map_counts_as_not_ready() -> None:
    agent = make_agent(dependsOn=["feed"])
    p = plan(observe(agent, graph={"a": ["feed"], "feed": []}, ready={}), T0)
    assert (p.deployment, p.status.phase) == (None, "Waiting")


@pytest.mark.parametrize(
    ("graph", "depends_on", "reason"),
    [
        ({"a": ["b"], "b": ["a"]}, ["b"], "DependencyCycle"),
        ({"a": ["a"]}, ["a"], "DependencyCycle"),
        ({"a": ["b"], "b": ["c"], "c": ["a"]}, ["b"], "DependencyCycle"),
        ({"a": ["ghost"]}, ["ghost"], "DependencyMissing"),
        ({"a": ["feed", "ghost"], "feed": []}, ["feed", "ghost"], "DependencyMissing"),
    ],
)
def test_dependency_graph_errors_fail_the_agent(
    graph: dict[str, list[str]], depends_on: list[str], reason: str
) -> None:
    agent = make_agent(dependsOn=depends_on)
    p = plan(observe(agent, graph=graph, ready=dict.fromkeys(graph, True)), T0, random.Random(0))
    assert p.deployment is None
    assert p.status.phase == "Failed"
    assert cond(p, "Ready") == ("False", reason)
    assert cond(p, "DependenciesReady") == ("False", reason)


def test_cycle_message_names_the_path() -> None:
    agent = make_agent(dependsOn=["b"])
    p = plan(observe(agent, graph={"a": ["b"], "b": ["a"]}, ready={}), T0)
    msg = get_condition(p.status.conditions, "Ready").message  # type: ignore[union-attr]
    assert "a -> b -> a" in msg


def test_agent_outside_a_cycle_just_waits() -> None:
    agent = make_agent(dependsOn=["b"])
    graph = {"a": ["b"], "b": ["c"], "c": ["b"]}
    p = plan(observe(agent, graph=graph, ready={}), T0)
    assert cond(p, "Ready") == ("False", "WaitingForDependencies")


def test_agent_on_a_cycle_reports_cycle_even_if_another_ref_is_missing() -> None:
    agent = make_agent(dependsOn=["b"])
    graph = {"a": ["b"], "b": ["a"], "x": ["ghost"]}
    p = plan(observe(agent, graph=graph, ready={}), T0)
    assert cond(p, "Ready") == ("False", "DependencyCycle")


def test_dependencies_ready_creates_the_deployment() -> None:
    agent = make_agent(dependsOn=["feed"], shutdown={"terminationGraceSeconds": 45, "preStopSleepSeconds": 4})
    p = plan(observe(agent, graph={"a": ["feed"], "feed": []}, ready={"feed": True}), T0, random.Random(0))
    dep = p.deployment
    assert dep is not None
    assert dep["kind"] == "Deployment"
    assert dep["metadata"]["name"] == "a-agent"
    owner = dep["metadata"]["ownerReferences"][0]
    assert owner == {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "name": "a",
        "uid": "uid-a",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert dep["metadata"]["annotations"][ANN_TEMPLATE_HASH] == p.status.template_hash
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 4}}
    assert pod["terminationGracePeriodSeconds"] == 45
    assert dep["spec"]["replicas"] == 1
    assert cond(p, "DependenciesReady") == ("True", "DependenciesReady")
    assert cond(p, "Ready") == ("False", "Starting")
    assert p.status.phase == "Starting"
    assert ANN_RESTARTED_AT not in pod_annotations(p)


def test_deployment_kept_when_dependency_later_becomes_unready() -> None:
    agent = make_agent(dependsOn=["feed"])
    obs = observe(
        agent,
        graph={"a": ["feed"], "feed": []},
        ready={"feed": False},
        deployment=running_deployment(),
        leases=(lease(at(-1)),),
    )
    p = plan(obs, T0)
    assert p.deployment is not None  # never tear down a running agent because a dependency blinked
    assert cond(p, "DependenciesReady") == ("False", "WaitingForDependencies")


# -- 12: idempotency ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {},  # nothing created yet: Starting
        {"deployment": running_deployment(), "leases": (lease(at(-1)),)},  # Running
        {"deployment": running_deployment(ready=0)},  # replicas not ready yet
        {"graph": {"a": ["b"], "b": ["a"]}},  # failed
    ],
    ids=["starting", "running", "not-ready", "cycle"],
)
def test_plan_is_idempotent(kw: dict[str, Any]) -> None:
    agent = make_agent(dependsOn=["b"] if "graph" in kw else [])
    obs = observe(agent, **kw)
    first = plan(obs, T0, random.Random(0))
    assert plan(obs, T0, random.Random(0)) == first
    second = again(first, obs, T0)
    assert second == first
    assert "Restarting" not in reasons(second)


def test_running_needs_ready_replicas_and_fresh_heartbeat() -> None:
    agent = make_agent()
    ok = plan(observe(agent, deployment=running_deployment(), leases=(lease(at(-1)),)), T0)
    assert (ok.status.phase, cond(ok, "Ready")) == ("Running", ("True", "Healthy"))
    assert ok.status.started_at == T0
    assert ok.status.last_heartbeat == at(-1)
    no_hb = plan(observe(agent, deployment=running_deployment()), T0)
    assert cond(no_hb, "Ready") == ("False", "Starting")
    not_ready = plan(observe(agent, deployment=running_deployment(ready=0), leases=(lease(at(-1)),)), T0)
    assert cond(not_ready, "Ready") == ("False", "Starting")


def test_unhealthy_lease_degrades_a_running_agent() -> None:
    agent = make_agent()
    obs = observe(agent, deployment=running_deployment(), leases=(lease(at(-1)),))
    p1 = plan(obs, T0)
    p2 = again(p1, obs, at(5), leases=(lease(at(4), healthy=False),))
    assert cond(p2, "Ready") == ("False", "Unhealthy")
    assert cond(p2, "Degraded") == ("True", "Unhealthy")
    assert p2.status.phase == "Degraded"
    assert "Restarting" not in reasons(p2)  # unhealthy but alive: no restart


# -- 13/14: restart with backoff ------------------------------------------------------------------

BACKOFF = {"initialSeconds": 60, "maxSeconds": 600, "factor": 2, "jitter": 0.2, "staleAfterSeconds": 20}


def _running(**spec: Any) -> tuple[Plan, Observed]:
    spec.setdefault("backoff", BACKOFF)
    agent = make_agent(**spec)
    obs = observe(agent, deployment=running_deployment(), leases=(lease(T0),))
    p = plan(obs, T0, random.Random(0))
    assert p.status.phase == "Running"
    return p, obs


def test_an_api_outage_is_not_every_agent_going_silent() -> None:
    """After the API server was gone for a while every Lease is old; the heartbeats are judged only
    over the time the operator has seen the API again (a blip must not restart the platform)."""
    p0, obs = _running()
    back = at(60)  # the API answered again at t=60; the last renewal it could show is from t=0
    p1 = again(p0, obs, at(65), api_contact_since=back)
    assert "Restarting" not in reasons(p1) and p1.status.restarts == p0.status.restarts
    p2 = again(p1, obs, at(81), api_contact_since=back)  # silent for 21 s of contact: stale
    assert p2.status.restarts == (p0.status.restarts or 0) + 1
    assert "heartbeat stale" in (p2.status.last_restart_reason or "")
    # readiness still needs a fresh heartbeat: an agent that never beat is not Ready for it
    fresh = observe(make_agent(backoff=BACKOFF), deployment=running_deployment(), api_contact_since=at(-5))
    assert cond(plan(fresh, T0, random.Random(0)), "Ready")[0] == "False"


def test_an_operator_that_has_not_reached_the_api_yet_restarts_nobody_for_silence() -> None:
    """A restarted operator's first pass, before its first answer from the API (right after an API
    outage every Lease is old): no contact seen is no time to judge silence over."""
    p0, obs = _running()
    p1 = again(p0, obs, at(300), api_contact_since=None)
    assert "Restarting" not in reasons(p1) and p1.status.restarts == p0.status.restarts
    p2 = again(p1, obs, at(301), api_contact_since=at(301))
    assert "Restarting" not in reasons(p2)
    p3 = again(p2, obs, at(322), api_contact_since=at(301))  # 21 s of contact and still silent
    assert p3.status.restarts == (p0.status.restarts or 0) + 1


def test_stale_heartbeat_within_grace_does_not_restart() -> None:
    agent = make_agent(backoff=BACKOFF)
    # deployment created 10s ago, never heartbeated: still inside the grace
    obs = observe(agent, deployment=running_deployment(created=at(-10)))
    p = plan(obs, T0, random.Random(0))
    assert "Restarting" not in reasons(p)
    assert p.status.restarts == 0
    assert ANN_RESTARTED_AT not in pod_annotations(p)


def test_stale_heartbeat_after_grace_restarts_with_backoff() -> None:
    p0, obs = _running()
    now = at(30)  # last heartbeat at T0, stale after 20s
    p1 = again(p0, obs, now)
    assert p1.status.restarts == 1
    assert p1.status.backoff_until is not None
    assert at(30 + 48) <= p1.status.backoff_until <= at(30 + 60)  # 60s * (1 - 0.2 U)
    assert p1.status.last_restart == now
    assert "heartbeat stale" in (p1.status.last_restart_reason or "")
    assert pod_annotations(p1)[ANN_RESTARTED_AT] == now.isoformat()
    assert p1.deployment is not None
    assert p1.status.template_hash != p0.status.template_hash  # the annotation rolls the pods
    (ev,) = [e for e in p1.events if e.reason == "Restarting"]
    assert ev.type == "Warning"
    assert "restart #1" in ev.message
    assert p1.status.phase == "BackingOff"
    assert cond(p1, "Ready") == ("False", "Unhealthy")
    assert cond(p1, "Degraded") == ("True", "Unhealthy")


def test_restart_is_not_repeated_by_a_second_reconcile_at_the_same_time() -> None:
    p0, obs = _running()
    p1 = again(p0, obs, at(30))
    p2 = again(p1, obs, at(30))
    assert "Restarting" not in reasons(p2)
    assert p2.status.restarts == 1
    assert p2.status.backoff_until == p1.status.backoff_until
    assert p2.deployment == p1.deployment


def test_restart_plan_is_fully_idempotent_when_fed_back() -> None:
    p0, obs = _running()
    p1 = again(p0, obs, at(30))
    p2 = again(p1, obs, at(30))
    assert p2.status == p1.status


def test_second_failure_inside_backoff_window_does_not_restart() -> None:
    p0, obs = _running()
    p1 = again(p0, obs, at(30))
    # 35s after the restart: past the 20s grace, heartbeat still stale, but inside the >=48s window
    p2 = again(p1, obs, at(65))
    assert "Restarting" not in reasons(p2)
    assert p2.status.restarts == 1
    assert p2.status.backoff_until == p1.status.backoff_until
    assert pod_annotations(p2)[ANN_RESTARTED_AT] == at(30).isoformat()
    assert p2.status.phase == "BackingOff"


def test_failure_after_window_restarts_with_longer_delay() -> None:
    p0, obs = _running()
    p1 = again(p0, obs, at(30))
    assert p1.status.backoff_until is not None
    first_delay = (p1.status.backoff_until - at(30)).total_seconds()
    now = at(100)  # past the window (<= 60s after the restart at 30)
    p2 = again(p1, obs, now)
    assert p2.status.restarts == 2
    assert p2.status.backoff_until is not None
    second_delay = (p2.status.backoff_until - now).total_seconds()
    assert 96 <= second_delay <= 120  # 120s * (1 - 0.2 U)
    assert second_delay > first_delay
    assert pod_annotations(p2)[ANN_RESTARTED_AT] == now.isoformat()
    assert "restart #2" in next(e.message for e in p2.events if e.reason == "Restarting")


def current(plan: Plan, name: str, phase: str = "Running", **kw: Any) -> PodInfo:
    """A pod of the template the plan put in force."""
    h = deployments.current_template_hash(plan.deployment)
    return PodInfo(name, phase, ready=kw.pop("ready", False), template_hash=h, **kw)


def test_crashing_pods_trigger_restart_immediately() -> None:
    p0, obs = _running()
    crashing = (current(p0, "a-agent-x1", crashing=True),)
    p1 = again(p0, obs, at(2), leases=(lease(at(1)),), pods=crashing)
    assert p1.status.restarts == 1
    assert "a-agent-x1" in (p1.status.last_restart_reason or "")
    assert ANN_RESTARTED_AT in pod_annotations(p1)
    assert reasons(p1).count("Restarting") == 1
    assert p1.status.phase == "BackingOff"
    # fed back at the same moment (its new pod crashing too): the same plan, no second restart
    p2 = again(p1, obs, at(2), leases=(lease(at(1)),), pods=(current(p1, "a-agent-x1", crashing=True),))
    assert p2 == Plan(p1.deployment, p2.status, p2.events)
    assert p2.status == p1.status
    assert "Restarting" not in reasons(p2)


def test_failed_pod_phase_counts_as_crashing() -> None:
    p0, obs = _running()
    p1 = again(p0, obs, at(2), leases=(lease(at(1)),), pods=(current(p0, "a-agent-x1", "Failed"),))
    assert p1.status.restarts == 1


def test_pods_of_a_previous_template_or_being_deleted_never_count_as_failing() -> None:
    """Seen on a real node: the old ReplicaSet's terminated pods and deleted pods counted as
    "pods failing", so one spec patch caused 15 rollouts and one kill -9 ten ReplicaSets."""
    p0, obs = _running()
    old_template = PodInfo("a-agent-old", "Failed", ready=False, crashing=True, template_hash="0ld")
    deleting = current(p0, "a-agent-x2", crashing=True, deleting=True)
    p1 = again(p0, obs, at(2), leases=(lease(at(1)),), pods=(old_template, deleting))
    assert p1.status.restarts == (p0.status.restarts or 0)
    assert "Restarting" not in reasons(p1)
    assert p1.deployment == p0.deployment  # no new rollout


def test_restart_count_resets_after_long_health() -> None:
    p0, obs = _running(backoff={**BACKOFF, "resetAfterSeconds": 100})
    p1 = again(p0, obs, at(30))
    assert p1.status.restarts == 1
    p2 = again(p1, obs, at(40), leases=(lease(at(39)),))  # healthy again, hold starts
    p3 = again(p2, obs, at(200), leases=(lease(at(199)),))
    assert p3.status.restarts == 0
    assert p3.status.backoff_until is None


# -- 16: scaling ----------------------------------------------------------------------------------

AUTOSCALE = {"minReplicas": 1, "maxReplicas": 5, "targetQueuePerWorker": 10, "cooldownSeconds": 60}


def test_autoscaling_from_lease_queue_length() -> None:
    agent = make_agent(autoscaling=AUTOSCALE)
    leases = (lease(at(-1), holder="w0", queue_length=20), lease(at(-1), holder="w1", queue_length=15))
    obs = observe(agent, deployment=running_deployment(), leases=leases)
    p1 = plan(obs, T0, random.Random(0))
    assert p1.deployment is not None
    assert p1.deployment["spec"]["replicas"] == 4
    assert (p1.status.desired_replicas, p1.status.queue_length, p1.status.last_scale_time) == (4, 35, T0)
    (ev,) = [e for e in p1.events if e.reason == "Scaled"]
    assert "1 → 4" in ev.message
    # scaling does not change the pod template
    base = plan(observe(agent, deployment=running_deployment()), T0)
    assert p1.status.template_hash == base.status.template_hash

    small = (lease(at(9), queue_length=5),)
    p2 = again(p1, obs, at(10), leases=small)  # inside the cool-down
    assert (p2.deployment or {})["spec"]["replicas"] == 4
    assert "Scaled" not in reasons(p2)
    p3 = again(p2, obs, at(61), leases=(lease(at(60), queue_length=5),))
    assert (p3.deployment or {})["spec"]["replicas"] == 1
    assert p3.status.last_scale_time == at(61)
    assert "Scaled" in reasons(p3)


def test_autoscaling_steady_queue_no_event() -> None:
    agent = make_agent(autoscaling=AUTOSCALE)
    obs = observe(
        agent, deployment=running_deployment(ready=2, replicas=2), leases=(lease(at(-1), queue_length=20),)
    )
    p1 = plan(obs, T0)
    p2 = again(p1, obs, at(100), leases=(lease(at(99), queue_length=20),))
    assert "Scaled" not in reasons(p2)
    assert p2.status.last_scale_time == T0


def test_fixed_replicas_without_autoscaling() -> None:
    agent = make_agent(replicas=3)
    p = plan(observe(agent, leases=(lease(at(-1), queue_length=1000),)), T0)
    assert (p.deployment or {})["spec"]["replicas"] == 3
    assert "Scaled" not in reasons(p)


# -- 19: recycle ----------------------------------------------------------------------------------

RECYCLE = {"maxUptimeSeconds": 3600, "hardDeadlineSeconds": 7200}


def _started(started_at: dt.datetime, now: dt.datetime) -> tuple[Plan, Observed]:
    agent = make_agent(recycle=RECYCLE)
    obs = observe(
        agent,
        deployment=running_deployment(created=started_at),
        leases=(lease(now - dt.timedelta(seconds=1)),),
    )
    p0 = plan(obs, started_at, random.Random(0))
    assert p0.status.started_at == started_at
    return p0, obs


def test_recycle_deferred_by_open_orders() -> None:
    now = at(4000)
    p0, obs = _started(T0, now)
    p = again(p0, obs, now, leases=(lease(at(3999), open_orders=2),))
    assert cond(p, "Recycling") == ("False", "RecycleDeferred")
    assert "Recycling" not in reasons(p)
    assert p.status.started_at == T0
    assert ANN_RESTARTED_AT not in pod_annotations(p)
    assert p.status.phase == "Running"


def test_recycle_forced_at_hard_deadline() -> None:
    now = at(7300)
    p0, obs = _started(T0, now)
    p = again(p0, obs, now, leases=(lease(at(7299), open_orders=2),))
    assert cond(p, "Recycling") == ("True", "MaxUptimeReached")
    assert "Recycling" in reasons(p)
    assert p.status.phase == "Recycling"
    assert p.status.started_at is None
    assert p.status.last_restart == now
    assert pod_annotations(p)[ANN_RESTARTED_AT] == now.isoformat()
    assert p.status.restarts == 0  # a recycle is not a failure


def test_recycle_at_max_uptime_without_open_orders() -> None:
    now = at(3700)
    p0, obs = _started(T0, now)
    p = again(p0, obs, now, leases=(lease(at(3699)),))
    assert cond(p, "Recycling") == ("True", "MaxUptimeReached")
    assert "no open orders" in next(e.message for e in p.events if e.reason == "Recycling")


def test_recycle_with_status_started_at_in_the_past() -> None:
    agent = make_agent(recycle=RECYCLE, status=AgentStatus(started_at=at(-8000)))
    obs = observe(
        agent, deployment=running_deployment(created=at(-8000)), leases=(lease(at(-1), open_orders=1),)
    )
    p = plan(obs, T0, random.Random(0))
    assert cond(p, "Recycling") == ("True", "MaxUptimeReached")
    within = plan(
        observe(
            make_agent(recycle=RECYCLE, status=AgentStatus(started_at=at(-100))),
            deployment=running_deployment(created=at(-100)),
            leases=(lease(at(-1)),),
        ),
        T0,
    )
    assert cond(within, "Recycling") == ("False", "WithinMaxUptime")


# -- 15: gates ------------------------------------------------------------------------------------


def test_effective_gate_from_global_policy_and_change_event() -> None:
    agent = make_agent(gate="CHECK")
    obs = observe(agent, deployment=running_deployment(), leases=(lease(at(-1)),), global_gate=Gate.GO)
    p0 = plan(obs, T0)
    assert p0.status.effective_gate is Gate.CHECK
    assert cond(p0, "Gated") == ("True", "GateCheck")
    assert "EffectiveGateChanged" not in reasons(p0)  # no previous gate, no event

    p1 = again(p0, obs, at(1), global_gate=Gate.STOP)
    assert p1.status.effective_gate is Gate.STOP
    assert cond(p1, "Gated") == ("True", "GateStop")
    (ev,) = [e for e in p1.events if e.reason == "EffectiveGateChanged"]
    assert ev.type == "Warning"
    assert "RiskPolicy/global" in ev.message
    assert "CHECK → STOP" in ev.message
    # a healthy Ready agent stays Ready under STOP
    assert cond(p1, "Ready") == ("True", "Healthy")

    p2 = again(p1, obs, at(2), global_gate=Gate.STOP)
    assert "EffectiveGateChanged" not in reasons(p2)

    p3 = again(p2, obs, at(3), global_gate=Gate.GO)
    (ev3,) = [e for e in p3.events if e.reason == "EffectiveGateChanged"]
    assert ev3.type == "Normal"
    assert "Agent/a" in ev3.message


def test_a_missing_global_policy_reads_pause_as_the_agents_read_it() -> None:
    """The agents PAUSE when the global RiskPolicy is gone (fail closed); the status says the same,
    naming the missing policy, so `kubectl get agents` never shows GO while nothing trades."""
    obs = observe(make_agent(), deployment=running_deployment(), leases=(lease(at(-1)),), global_gate=None)
    p = plan(obs, T0)
    assert p.status.effective_gate is Gate.PAUSE
    gated = next(c for c in p.status.conditions if c.type == "Gated")
    assert gated.status == "True" and gated.message.endswith("from RiskPolicy/global (missing)")
    assert cond(p, "Ready") == ("True", "Healthy")  # a PAUSE is no health problem
    back = again(p, obs, at(1), global_gate=Gate.GO)
    assert back.status.effective_gate is Gate.GO


def test_gate_go_is_not_gated() -> None:
    p = plan(observe(make_agent()), T0)
    assert p.status.effective_gate is Gate.GO
    assert cond(p, "Gated") == ("False", "GateGo")


def test_gate_computed_even_while_waiting_for_dependencies() -> None:
    agent = make_agent(dependsOn=["feed"])
    p = plan(observe(agent, graph={"a": ["feed"], "feed": []}, global_gate=Gate.PAUSE), T0)
    assert p.deployment is None
    assert p.status.effective_gate is Gate.PAUSE


# -- 18: recovery ---------------------------------------------------------------------------------


def _degraded(hold: float = 30, **spec: Any) -> tuple[Plan, Observed]:
    p0, obs = _running(recoveryHoldSeconds=hold, **spec)
    p1 = again(p0, obs, at(30))  # stale heartbeat: restart, Degraded
    assert cond(p1, "Degraded") == ("True", "Unhealthy")
    return p1, obs


def test_degraded_returns_to_ready_only_after_recovery_hold() -> None:
    p1, obs = _degraded(hold=30)
    p2 = again(p1, obs, at(40), leases=(lease(at(39)),))
    assert cond(p2, "Ready") == ("False", "RecoveryHold")
    assert cond(p2, "Degraded") == ("True", "RecoveryHold")
    assert p2.status.healthy_since == at(40)
    assert p2.status.phase == "Degraded"
    p3 = again(p2, obs, at(69), leases=(lease(at(68)),))
    assert cond(p3, "Ready") == ("False", "RecoveryHold")
    assert "Recovered" not in reasons(p3)
    p4 = again(p3, obs, at(70), leases=(lease(at(69)),))
    assert cond(p4, "Ready") == ("True", "Healthy")
    assert cond(p4, "Degraded") == ("False", "Healthy")
    assert p4.status.phase == "Running"
    assert "Recovered" in reasons(p4)
    p5 = again(p4, obs, at(71), leases=(lease(at(70)),))
    assert "Recovered" not in reasons(p5)


def test_recovery_hold_restarts_after_a_blip() -> None:
    p1, obs = _degraded(hold=30)
    p2 = again(p1, obs, at(40), leases=(lease(at(39)),))
    p3 = again(p2, obs, at(55), leases=(lease(at(39), healthy=False),))  # blip
    assert p3.status.healthy_since is None
    p4 = again(p3, obs, at(60), leases=(lease(at(59)),))
    p5 = again(p4, obs, at(75), leases=(lease(at(74)),))
    assert cond(p5, "Ready") == ("False", "RecoveryHold")  # only 15s of continuous health
    p6 = again(p5, obs, at(90), leases=(lease(at(89)),))
    assert cond(p6, "Ready") == ("True", "Healthy")


def test_degraded_never_recovers_while_gate_stop() -> None:
    p1, obs = _degraded(hold=0)
    p2 = again(p1, obs, at(40), leases=(lease(at(39)),), global_gate=Gate.STOP)
    p3 = again(p2, obs, at(1000), leases=(lease(at(999)),), global_gate=Gate.STOP)
    assert cond(p3, "Ready") == ("False", "GateForbids")
    assert cond(p3, "Degraded") == ("True", "GateForbids")
    p4 = again(p3, obs, at(1001), leases=(lease(at(1000)),), global_gate=None)
    assert cond(p4, "Ready") == ("True", "Healthy")  # held long enough already (since at(40))


def test_unknown_strategy_blocks_the_deployment_with_a_condition() -> None:
    agent = make_agent(strategies=["ghost", "real"])
    p = plan(observe(agent, strategies=frozenset({"real"})), T0)
    assert p.deployment is None
    assert cond(p, "Ready") == ("False", "StrategyNotFound")
    assert cond(p, "StrategiesResolved") == ("False", "StrategyNotFound")
    ok = plan(observe(agent, strategies=frozenset({"real", "ghost"})), T0)
    assert ok.deployment is not None
    assert cond(ok, "StrategiesResolved") == ("True", "StrategiesResolved")


def test_invalid_spec_is_a_condition_and_idempotent() -> None:
    from quantops_operator.reconcile.agent import invalid_spec_status

    first = invalid_spec_status(None, ["spec: dependsOn has duplicate entries"], 3, T0)
    c = get_condition(first.conditions, "Ready")
    assert c is not None and (c.status, c.reason) == ("False", "InvalidSpec")
    assert "dependsOn has duplicate entries" in c.message and c.observed_generation == 3
    assert first.phase == "Failed"
    again_ = invalid_spec_status(first, ["spec: dependsOn has duplicate entries"], 3, at(60))
    assert again_ == first  # same errors later: no new transition, nothing to write


def test_a_recycle_clears_started_at_through_the_status_patch_and_recycles_once() -> None:
    """The plan clears startedAt at a recycle; the status reaches the API as a JSON merge patch, where
    an absent key is left alone. Fed back the way the API server stores it, the next reconcile must
    not recycle again (on a real node it did, pod after pod, until startedAt was sent as null)."""
    from quantops_operator.controllers.agent import status_patch

    now = at(3700)
    p0, obs = _started(T0, now)
    p1 = again(p0, obs, now, leases=(lease(at(3699)),))
    assert "Recycling" in reasons(p1) and p1.status.started_at is None
    stored = p0.status.to_wire()
    patch = status_patch(stored, p1.status.to_wire())
    assert patch is not None and patch["startedAt"] is None
    stored = {k: v for k, v in {**stored, **patch}.items() if v is not None}  # merge patch semantics
    assert "startedAt" not in stored
    fed_back = AgentStatus.model_validate(stored)
    p2 = again(Plan(p1.deployment, fed_back, []), obs, at(3702), leases=(lease(at(3701)),))
    assert "Recycling" not in reasons(p2)
    assert p2.deployment == p1.deployment  # no second rollout
    assert status_patch(p2.status.to_wire(), p2.status.to_wire()) is None
