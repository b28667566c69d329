"""Pure Agent reconcile: (observed state, now) -> (desired Deployment, status, events).

Level-triggered and idempotent: the plan looks at the whole observed state, never at a diff, so
running it twice with the same input yields the same output and no new restart. Every decision
(ordering, backoff, recycle, scaling, recovery, gate) comes from quantops_api.orchestration,
the same functions `quantops up` uses.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from quantops_api import Agent, AgentStatus, Condition, Gate
from quantops_api.meta import get_condition, set_condition
from quantops_api.orchestration import (
    HealthDecision,
    RecycleDecision,
    backoff_delay,
    cycle_members,
    desired_replicas,
    effective_gate,
    find_cycle,
    health_decision,
    heartbeat_stale,
    policy_scope,
    recycle_decision,
    unmet_dependencies,
)
from quantops_api.v1alpha1.conditions import NOT_STARTED, ConditionType, EventReason, Reason
from quantops_operator.resources import deployments


@dataclass(frozen=True)
class LeaseInfo:
    holder: str
    renew_time: dt.datetime | None
    queue_length: int = 0
    open_orders: int = 0
    healthy: bool = True


@dataclass(frozen=True)
class PodInfo:
    name: str
    phase: str
    ready: bool
    crashing: bool = False
    """In CrashLoopBackOff (the kubelet's own restarts are not enough) or phase Failed."""
    template_hash: str | None = None
    """The pod template it was made from; only pods of the desired template count as failing."""
    deleting: bool = False


@dataclass(frozen=True)
class Observed:
    agent: Agent
    graph: dict[str, list[str]]  # this Agent and every Agent it depends on, transitively -> its dependsOn
    ready: dict[str, bool]  # those Agents -> Ready condition is True
    global_gate: Gate | None
    deployment: dict[str, Any] | None
    leases: tuple[LeaseInfo, ...] = ()
    pods: tuple[PodInfo, ...] = ()
    image: str = deployments.DEFAULT_IMAGE
    strategies: frozenset[str] | None = None  # Strategy names in the namespace; None = not known yet
    state: deployments.StateVolume = field(default_factory=deployments.StateVolume)
    api_contact_since: dt.datetime | None = None
    """Since when the operator has seen the API without a break; None: not tracked."""


@dataclass(frozen=True)
class Event:
    reason: EventReason
    message: str
    type: str = "Normal"


@dataclass(frozen=True)
class Plan:
    deployment: dict[str, Any] | None  # desired; None = leave the cluster alone (not created yet)
    status: AgentStatus
    events: list[Event] = field(default_factory=list)


def _cond(
    type_: ConditionType, ok: bool, reason: Reason, message: str, now: dt.datetime, gen: int | None
) -> Condition:
    return Condition(
        type=type_,
        status="True" if ok else "False",
        reason=reason,
        message=message,
        last_transition_time=now,
        observed_generation=gen,
    )


def plan(obs: Observed, now: dt.datetime, rng: random.Random | None = None) -> Plan:
    agent, spec = obs.agent, obs.agent.spec
    old = agent.status or AgentStatus()
    gen = agent.metadata.generation
    conds = list(old.conditions)
    events: list[Event] = []

    def setc(type_: ConditionType, ok: bool, reason: Reason, message: str) -> None:
        nonlocal conds
        conds = set_condition(conds, _cond(type_, ok, reason, message, now, gen))

    gate = effective_gate(dict([(f"Agent/{agent.name}", spec.gate), policy_scope("global", obs.global_gate)]))
    if old.effective_gate is not None and gate.gate != old.effective_gate:
        events.append(
            Event(
                EventReason.EFFECTIVE_GATE_CHANGED,
                f"{old.effective_gate} → {gate.gate} (most restrictive scope: {gate.source})",
                "Warning" if gate.gate.severity > old.effective_gate.severity else "Normal",
            )
        )
    setc(
        ConditionType.GATED,
        gate.gate is not Gate.GO,
        Reason.for_gate(gate.gate),
        f"effective gate {gate.gate} from {gate.source}",
    )
    base = old.model_copy(update={"effective_gate": gate.gate, "observed_generation": gen})

    # 11/12: dependency order; a dependent's Deployment is created only after its dependencies are Ready.
    problem = _dependency_problem(obs)
    if problem is not None:
        reason, message = problem
        setc(ConditionType.DEPENDENCIES_READY, False, reason, message)
        if obs.deployment is None or reason is not Reason.WAITING_FOR_DEPENDENCIES:
            setc(ConditionType.READY, False, reason, message)
            phase = "Waiting" if reason is Reason.WAITING_FOR_DEPENDENCIES else "Failed"
            return Plan(None, base.model_copy(update={"conditions": conds, "phase": phase}), events)
    else:
        setc(
            ConditionType.DEPENDENCIES_READY,
            True,
            Reason.DEPENDENCIES_READY,
            "all dependsOn agents are Ready",
        )

    # A trader must not start (or be reported Ready) for Strategy objects that do not exist.
    if obs.strategies is not None:
        unknown = sorted(set(spec.strategies) - obs.strategies)
        if unknown:
            msg = f"spec.strategies names Strategy objects that do not exist: {', '.join(unknown)}"
            setc(ConditionType.STRATEGIES_RESOLVED, False, Reason.STRATEGY_NOT_FOUND, msg)
            setc(ConditionType.READY, False, Reason.STRATEGY_NOT_FOUND, msg)
            return Plan(None, base.model_copy(update={"conditions": conds, "phase": "Failed"}), events)
        setc(
            ConditionType.STRATEGIES_RESOLVED,
            True,
            Reason.STRATEGIES_RESOLVED,
            f"{len(spec.strategies)} strategies found",
        )

    # 16: replicas from the queue length the agents report.
    replicas, last_scale = spec.replicas, old.last_scale_time
    queue = sum(lease.queue_length for lease in obs.leases)
    if spec.autoscaling is not None:
        current = old.desired_replicas if old.desired_replicas is not None else spec.autoscaling.min_replicas
        scale = desired_replicas(spec.autoscaling, current, queue, old.last_scale_time, now)
        replicas = scale.replicas
        if scale.changed:
            last_scale = now
            events.append(Event(EventReason.SCALED, f"{current} → {scale.replicas} workers: {scale.reason}"))

    dep_status = (obs.deployment or {}).get("status", {})
    ready_replicas = int(dep_status.get("readyReplicas") or 0)
    available = obs.deployment is not None and ready_replicas >= max(replicas, 1 if replicas else 0)
    heartbeats = [lease.renew_time for lease in obs.leases if lease.renew_time is not None]
    last_hb = max(heartbeats) if heartbeats else old.last_heartbeat
    since_start = old.last_restart or old.started_at or _created(obs.deployment) or now
    if last_hb is None:
        # Never heartbeated: starting, not silent, until its pods are available, and the grace
        # counts from then. On a loaded real node a pod can take longer than staleAfterSeconds to
        # start; restarting it for silence only started it again (seen: 10 Agents on 2 cores,
        # every one restarted, each restart adding a ReplicaSet). A pod that never becomes ready
        # is the kubelet's (probes, CrashLoopBackOff: counted as crashing below).
        if not available:
            since_start = now
        elif (up_since := _available_since(obs.deployment)) is not None:
            since_start = max(since_start, up_since)
    grace_over = (now - since_start).total_seconds() > spec.backoff.stale_after_seconds
    stale = heartbeat_stale(last_hb, now, spec.backoff.stale_after_seconds)
    # Restarting for silence judges a heartbeat only over time the operator itself could see the
    # API: after an API outage every Lease is old, and restarting every agent for it would turn a
    # blip into a platform-wide restart. No contact seen yet (an operator that just started, before
    # its first answer) is no time at all: seen on real pods, a restarted operator's first pass
    # restarted an agent whose Lease the API outage just before had left old.
    # (Readiness still needs a fresh heartbeat.)
    seen_from = obs.api_contact_since
    silent = (
        stale
        and seen_from is not None
        and not (
            last_hb is not None
            and not heartbeat_stale(max(last_hb, seen_from), now, spec.backoff.stale_after_seconds)
        )
    )
    # Only pods of the template in force count: a pod being deleted, or one of the previous
    # ReplicaSet terminated by a rollout, is not a failure (counting it rolled again and again).
    in_force = deployments.deployment(
        agent,
        replicas,
        obs.image,
        old.last_restart.isoformat() if old.last_restart else None,
        state=obs.state,
    )
    current_hash = deployments.current_template_hash(in_force)
    crashing = [
        p.name
        for p in obs.pods
        if (p.crashing or p.phase == "Failed") and not p.deleting and p.template_hash == current_hash
    ]
    unhealthy_leases = [lease.holder for lease in obs.leases if not lease.healthy]
    failing = bool(crashing) or (silent and grace_over and replicas > 0)

    # 13: restart with exponential backoff (cap + jitter) for crashing or silent agents.
    restarts, backoff_until = old.restarts or 0, old.backoff_until
    last_restart, restart_reason = old.last_restart, old.last_restart_reason
    started_at = old.started_at
    healthy_long = (
        old.healthy_since is not None
        and (now - old.healthy_since).total_seconds() > spec.backoff.reset_after_seconds
    )
    if restarts and healthy_long and not failing:
        restarts, backoff_until = 0, None
    if failing and (backoff_until is None or now >= backoff_until):
        why = f"pods failing: {', '.join(crashing)}" if crashing else f"heartbeat stale since {last_hb}"
        restarts += 1
        delay = backoff_delay(spec.backoff, restarts, rng)
        backoff_until = now + dt.timedelta(seconds=delay)
        last_restart, restart_reason, started_at = now, why, None
        events.append(
            Event(
                EventReason.RESTARTING,
                f"restart #{restarts} ({why}); next restart not before {delay:.1f}s",
                "Warning",
            )
        )

    # 19: max-uptime recycle, deferred while orders are open unless the hard deadline passed.
    if available and started_at is None and not stale and not crashing:
        started_at = now  # the uptime clock (recycle) starts once the agent is really healthy
    open_orders = sum(lease.open_orders for lease in obs.leases)
    rec = recycle_decision(spec.recycle, started_at, now, open_orders)
    if rec.recycle:
        last_restart, restart_reason, started_at = now, rec.message, None
        events.append(Event(EventReason.RECYCLING, rec.message))
    setc(
        ConditionType.RECYCLING,
        rec.recycle,
        Reason(rec.reason),
        _recycle_message(rec, spec.recycle.max_uptime_seconds if spec.recycle else None, open_orders),
    )

    # 14/18: Ready needs available pods and fresh heartbeats; Degraded recovers after the hold time.
    healthy_now = available and not stale and not crashing and not unhealthy_leases
    was_ready = get_condition(old.conditions, ConditionType.READY)
    ever_ready = was_ready is not None and was_ready.reason not in NOT_STARTED
    if not ever_ready and not healthy_now and not failing:
        setc(
            ConditionType.READY,
            False,
            Reason.STARTING,
            f"{ready_replicas}/{replicas} replicas ready, waiting for heartbeats",
        )
        setc(ConditionType.DEGRADED, False, Reason.STARTING, "not started yet")
        healthy_since, phase = None, "Starting"
    else:
        detail = (
            ("pods failing: " + ", ".join(crashing))
            if crashing
            else (
                f"heartbeat stale (last {last_hb})"
                if stale
                else (
                    f"unhealthy replicas: {', '.join(unhealthy_leases)}"
                    if unhealthy_leases
                    else (f"{ready_replicas}/{replicas} replicas ready" if not available else "")
                )
            )
        )
        prev_degraded = get_condition(old.conditions, ConditionType.DEGRADED)
        degraded_before = prev_degraded is not None and prev_degraded.status == "True"
        h = health_decision(
            healthy_now=healthy_now,
            was_degraded=degraded_before,
            healthy_since=old.healthy_since,
            hold_seconds=spec.recovery_hold_seconds,
            gate=gate.gate,
            now=now,
            detail=detail,
        )
        reason, message = Reason(h.reason), _health_message(h, spec.recovery_hold_seconds)
        setc(ConditionType.READY, h.ready, reason, message)
        setc(ConditionType.DEGRADED, h.degraded, reason, message)
        healthy_since = h.healthy_since
        backing_off = failing or (backoff_until is not None and now < backoff_until and not healthy_now)
        phase = "Running" if h.ready else ("BackingOff" if backing_off else "Degraded")
        if degraded_before and h.ready:
            events.append(
                Event(EventReason.RECOVERED, f"healthy for {spec.recovery_hold_seconds:.0f}s; back to Ready")
            )
    if rec.recycle:
        phase = "Recycling"

    desired = (  # built once per pass unless a restart or recycle changes restarted-at
        in_force
        if last_restart == old.last_restart
        else deployments.deployment(
            agent, replicas, obs.image, last_restart.isoformat() if last_restart else None, state=obs.state
        )
    )
    status = base.model_copy(
        update={
            "conditions": conds,
            "phase": phase,
            "replicas": int(dep_status.get("replicas") or 0),
            "ready_replicas": ready_replicas,
            "desired_replicas": replicas,
            "queue_length": queue,
            "last_heartbeat": last_hb,
            "restarts": restarts,
            "backoff_until": backoff_until,
            "started_at": started_at,
            "last_restart": last_restart,
            "last_restart_reason": restart_reason,
            "last_scale_time": last_scale,
            "healthy_since": healthy_since,
            "template_hash": desired["metadata"]["annotations"][deployments.ANN_TEMPLATE_HASH],
        }
    )
    return Plan(desired, status, events)


def invalid_spec_status(
    old: AgentStatus | None, errors: list[str], gen: int | None, now: dt.datetime
) -> AgentStatus:
    """An object the API server accepted but the models refuse: a clear condition, never a crash loop."""
    msg = "; ".join(errors)
    conds = set_condition(
        (old or AgentStatus()).conditions,
        _cond(ConditionType.READY, False, Reason.INVALID_SPEC, msg, now, gen),
    )
    return (old or AgentStatus()).model_copy(
        update={"conditions": conds, "phase": "Failed", "observed_generation": gen}
    )


def _health_message(h: HealthDecision, hold_seconds: float) -> str:
    """The condition message of a health decision, stable while nothing changes.

    The decision's own message for a recovery hold counts the seconds held ("healthy for 12s of
    30s"): written into the condition it would change the status on every pass. The condition says
    since when instead; the count belongs in logs, not in status.
    """
    if h.reason == Reason.RECOVERY_HOLD and h.healthy_since is not None:
        return f"healthy since {h.healthy_since.isoformat()}; Ready after {hold_seconds:.0f}s healthy"
    return h.message


def _recycle_message(rec: RecycleDecision, max_uptime: float | None, open_orders: int) -> str:
    """The Recycling condition's message, stable while nothing changes (no running uptime in it)."""
    reason = Reason(rec.reason)
    if reason is Reason.NO_RECYCLE_POLICY or max_uptime is None:
        return "within max uptime"
    if reason is Reason.WITHIN_MAX_UPTIME:
        return f"uptime below max {max_uptime:.0f}s"
    if reason is Reason.RECYCLE_DEFERRED:
        return f"past max uptime {max_uptime:.0f}s; deferred: {open_orders} open orders"
    why = "hard deadline passed" if open_orders > 0 else "no open orders"
    return f"max uptime {max_uptime:.0f}s reached ({why})"


def _dependency_problem(obs: Observed) -> tuple[Reason, str] | None:
    members = cycle_members(obs.graph)
    if obs.agent.name in members:
        cycle = find_cycle(
            {n: [d for d in ds if d in members] for n, ds in obs.graph.items() if n in members}
        )
        return Reason.DEPENDENCY_CYCLE, f"dependsOn cycle: {' -> '.join(cycle)}"
    missing = sorted(d for d in obs.agent.spec.depends_on if d not in obs.graph)
    if missing:
        return Reason.DEPENDENCY_MISSING, f"dependsOn names agents that do not exist: {', '.join(missing)}"
    unmet = unmet_dependencies(obs.agent.spec.depends_on, obs.ready)
    if unmet:
        return Reason.WAITING_FOR_DEPENDENCIES, f"waiting for Ready: {', '.join(unmet)}"
    return None


def _available_since(dep: dict[str, Any] | None) -> dt.datetime | None:
    """When the Deployment's Available condition last turned True (its pods became available)."""
    for c in (dep or {}).get("status", {}).get("conditions") or []:
        if c.get("type") == "Available" and c.get("status") == "True" and c.get("lastTransitionTime"):
            return dt.datetime.fromisoformat(str(c["lastTransitionTime"]).replace("Z", "+00:00"))
    return None


def _created(dep: dict[str, Any] | None) -> dt.datetime | None:
    ts = (dep or {}).get("metadata", {}).get("creationTimestamp")
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")) if ts else None
