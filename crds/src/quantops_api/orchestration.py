"""Pure orchestration decisions shared by the operator and `quantops up` (roadmap 11–19).

Startup order, restart backoff, recycle, effective gate, queue-based replica count and the
Degraded → Ready recovery rule are decided here once, from plain values and an injected clock,
so Kubernetes and the one-machine runner behave identically and are tested in one place.
No I/O, no kopf, no time.now() calls: callers pass `now`.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from quantops_api.meta import Gate
from quantops_api.v1alpha1.agent import AutoscalingSpec, BackoffSpec, RecycleSpec


class DependencyError(ValueError):
    """The dependsOn graph cannot be ordered (a cycle or a reference to a missing agent)."""

    def __init__(self, reason: str, message: str, agents: tuple[str, ...]) -> None:
        super().__init__(message)
        self.reason = reason
        self.agents = agents


def startup_order(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Agents grouped in start waves: each wave depends only on earlier waves; names sorted.

    Raises DependencyError(reason="DependencyCycle" | "DependencyMissing") naming the agents.
    """
    deps = {name: sorted(set(d)) for name, d in graph.items()}
    missing = sorted({f"{n} -> {d}" for n, ds in deps.items() for d in ds if d not in deps})
    if missing:
        raise DependencyError(
            "DependencyMissing",
            f"dependsOn names agents that do not exist: {', '.join(missing)}",
            tuple(m.split(" -> ")[0] for m in missing),
        )
    waves: list[list[str]] = []
    placed: set[str] = set()
    while len(placed) < len(deps):
        wave = sorted(n for n, ds in deps.items() if n not in placed and all(d in placed for d in ds))
        if not wave:
            cycle = find_cycle({n: ds for n, ds in deps.items() if n not in placed})
            raise DependencyError("DependencyCycle", f"dependsOn cycle: {' -> '.join(cycle)}", tuple(cycle))
        waves.append(wave)
        placed.update(wave)
    return waves


def find_cycle(deps: Mapping[str, list[str]]) -> list[str]:
    """One cycle in the graph as a closed path (first node repeated at the end), or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in deps.get(n, []):
            if state.get(d) == 1:
                return [*stack[stack.index(d) :], d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for start in sorted(deps):
        if start not in state and (found := visit(start)):
            return found
    return []


def cycle_members(graph: Mapping[str, Iterable[str]]) -> set[str]:
    """Every agent that sits on some dependency cycle (they all get a DependencyCycle condition)."""
    deps = {n: sorted(set(d) & set(graph)) for n, d in graph.items()}
    members: set[str] = set()
    for n in deps:
        seen: set[str] = set()
        todo = list(deps[n])
        while todo:
            cur = todo.pop()
            if cur == n:
                members.add(n)
                break
            if cur not in seen:
                seen.add(cur)
                todo.extend(deps.get(cur, []))
    return members


def unmet_dependencies(depends_on: Iterable[str], ready: Mapping[str, bool]) -> list[str]:
    """The dependencies that are not Ready yet (a missing agent counts as not Ready)."""
    return sorted(d for d in set(depends_on) if not ready.get(d, False))


def backoff_delay(spec: BackoffSpec, failures: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before restart number `failures` (1-based): exponential, capped, jittered.

    The jitter only ever shortens the delay (delay * (1 - jitter * U)), so the cap is a hard bound.
    """
    if failures <= 0:
        return 0.0
    exponent = min(failures - 1, 64)
    base = min(spec.max_seconds, spec.initial_seconds * math.pow(spec.factor, exponent))
    u = (rng or random.Random()).random()
    return base * (1.0 - spec.jitter * u)


def heartbeat_stale(last: dt.datetime | None, now: dt.datetime, stale_after_seconds: float) -> bool:
    return last is None or (now - last).total_seconds() > stale_after_seconds


@dataclass(frozen=True)
class RecycleDecision:
    recycle: bool
    reason: str
    message: str


def recycle_decision(
    spec: RecycleSpec | None, started_at: dt.datetime | None, now: dt.datetime, open_orders: int
) -> RecycleDecision:
    """Roll the agent at max uptime; wait for open orders unless the hard deadline passed."""
    if spec is None or started_at is None:
        return RecycleDecision(False, "NoRecyclePolicy", "")
    uptime = (now - started_at).total_seconds()
    if uptime < spec.max_uptime_seconds:
        return RecycleDecision(False, "WithinMaxUptime", f"uptime {uptime:.0f}s < {spec.max_uptime_seconds}s")
    hard = spec.hard_deadline_seconds
    if open_orders > 0 and (hard is None or uptime < hard):
        return RecycleDecision(
            False,
            "RecycleDeferred",
            f"uptime {uptime:.0f}s past max {spec.max_uptime_seconds}s; deferred: {open_orders} open orders",
        )
    why = "hard deadline passed" if open_orders > 0 else "no open orders"
    return RecycleDecision(
        True, "MaxUptimeReached", f"uptime {uptime:.0f}s >= {spec.max_uptime_seconds}s ({why})"
    )


MISSING_GATE = Gate.PAUSE
"""The gate of an object a gate depends on that does not exist (deleted, or never applied): fail
closed — deleting a STOPped policy must not lift the stop. The agents and the operator's status
read it alike, so ``kubectl get agents`` shows what the agents do."""


MISSING = " (missing)"
"""The suffix of a gate source that names an object that does not exist."""


def policy_scope(name: str, gate: Gate | str | None) -> tuple[str, Gate | str]:
    """The (scope, gate) a RiskPolicy contributes: a missing one PAUSEs, its scope saying so."""
    if gate is None:
        return f"RiskPolicy/{name}{MISSING}", MISSING_GATE
    return f"RiskPolicy/{name}", gate


@dataclass(frozen=True)
class GateView:
    gate: Gate
    source: str  # which scope made it this restrictive, e.g. "RiskPolicy/global"


def effective_gate(scopes: Mapping[str, Gate | str | None]) -> GateView:
    """Most restrictive gate over named scopes; ties keep the first scope listed."""
    best = GateView(Gate.GO, "default")
    for source, g in scopes.items():
        if g is None:
            continue
        gate = Gate(g)
        if gate.severity > best.gate.severity:
            best = GateView(gate, source)
    return best


@dataclass(frozen=True)
class ScaleDecision:
    replicas: int
    changed: bool
    reason: str


def desired_replicas(
    spec: AutoscalingSpec, current: int, queue_length: int, last_scale: dt.datetime | None, now: dt.datetime
) -> ScaleDecision:
    """ceil(queue / target) clamped to [min, max]; no change inside the cool-down (anti-flapping)."""
    want = max(
        spec.min_replicas, min(spec.max_replicas, math.ceil(queue_length / spec.target_queue_per_worker))
    )
    if want == current:
        return ScaleDecision(current, False, f"queue {queue_length} fits {current} workers")
    if last_scale is not None and (now - last_scale).total_seconds() < spec.cooldown_seconds:
        return ScaleDecision(current, False, f"cool-down: wanted {want} for queue {queue_length}")
    return ScaleDecision(
        want, True, f"queue {queue_length} / target {spec.target_queue_per_worker} -> {want}"
    )


@dataclass(frozen=True)
class HealthDecision:
    ready: bool
    degraded: bool
    healthy_since: dt.datetime | None
    reason: str
    message: str


def health_decision(
    *,
    healthy_now: bool,
    was_degraded: bool,
    healthy_since: dt.datetime | None,
    hold_seconds: float,
    gate: Gate,
    now: dt.datetime,
    detail: str = "",
) -> HealthDecision:
    """Degraded returns to Ready only after `hold_seconds` of continuous health, and never under STOP.

    STOP does not make a healthy Ready agent Degraded: it only forbids the automatic recovery.
    """
    if not healthy_now:
        return HealthDecision(False, True, None, "Unhealthy", detail or "heartbeat or checks failing")
    since = healthy_since or now
    if gate is Gate.STOP and was_degraded:
        return HealthDecision(
            False, True, since, "GateForbids", "effective gate STOP forbids returning to Ready"
        )
    if was_degraded and (now - since).total_seconds() < hold_seconds:
        held = (now - since).total_seconds()
        return HealthDecision(
            False, True, since, "RecoveryHold", f"healthy for {held:.0f}s of {hold_seconds:.0f}s"
        )
    return HealthDecision(True, False, since, "Healthy", detail or "heartbeats and checks healthy")
