"""Kill switches from execution health (61) and the adverse trade clustering detector (62).

Why it exists: a venue whose connector circuit is open, whose DNS keeps failing, whose telemetry
has gone quiet or whose p99 latency is over its bound is a venue where orders go astray; trading
there must stop *before* a loss proves it. :func:`health_actions` maps one
:class:`HealthSnapshot` to PAUSE/STOP switches on ``venue/<name>`` (and lifts them when healthy).
Telemetry starvation is a STOP because the engine is blind; the others are PAUSE (exits still go).

Losses that cluster — in time, on one venue, in one regime or on one pair — are a signal that the
model is wrong *there*. :class:`AdverseClusterDetector` counts losing closes per cluster key in a
sliding window: at ``throttle_at`` losses the cluster is throttled (at most one order per
``throttle_interval_s``, enforced as a rule), at ``pause_at`` its scope is PAUSEd.

What it must not do: probe venues itself; snapshots come from the execution layer's breaker,
resolver and latency tracker.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from quantops_api import Gate
from quantops_trading.execution.breaker import BreakerState, CircuitBreaker
from quantops_trading.execution.latency import LatencyTracker
from quantops_trading.risk.book import OrderRequest
from quantops_trading.risk.events import ClusterThrottled
from quantops_trading.risk.killswitches import GLOBAL, SwitchAction
from quantops_trading.risk.rules import CheckContext, RiskRule

__all__ = [
    "AdverseClusterDetector",
    "HealthSnapshot",
    "HealthThresholds",
    "LossRecord",
    "health_actions",
    "snapshot_from",
    "throttle_change",
]


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    max_dns_failures: int = 3
    telemetry_max_age_s: float = 30.0
    p99_limit_s: float = 1.0


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    venue: str
    breaker_open: bool = False
    dns_failures: int = 0
    telemetry_age_s: float | None = None
    p99_latency_s: float | None = None


def snapshot_from(
    venue: str,
    breaker: CircuitBreaker,
    latency: LatencyTracker | None = None,
    *,
    dns_failures: int = 0,
    telemetry_age_s: float | None = None,
) -> HealthSnapshot:
    """Build a snapshot from the execution layer's own breaker and latency tracker."""
    return HealthSnapshot(
        venue=venue,
        breaker_open=breaker.state is BreakerState.OPEN,
        dns_failures=dns_failures,
        telemetry_age_s=telemetry_age_s,
        p99_latency_s=latency.p99 if latency is not None else None,
    )


def health_actions(snap: HealthSnapshot, limits: HealthThresholds | None = None) -> list[SwitchAction]:
    """Set or lift one switch per health signal on ``venue/<name>``."""
    lim = limits or HealthThresholds()
    scope = f"venue/{snap.venue}"

    def switch(name: str, bad: bool, gate: Gate, why: str) -> SwitchAction:
        return SwitchAction(scope, name, gate if bad else None, why if bad else f"{name} healthy")

    starving = snap.telemetry_age_s is not None and snap.telemetry_age_s > lim.telemetry_max_age_s
    slow = snap.p99_latency_s is not None and snap.p99_latency_s > lim.p99_limit_s
    return [
        switch("connector_circuit", snap.breaker_open, Gate.PAUSE, f"{snap.venue} connector circuit is open"),
        switch(
            "dns",
            snap.dns_failures >= lim.max_dns_failures,
            Gate.PAUSE,
            f"{snap.dns_failures} DNS failures (max {lim.max_dns_failures})",
        ),
        switch(
            "telemetry_starvation",
            starving,
            Gate.STOP,
            f"no telemetry for {snap.telemetry_age_s}s (max {lim.telemetry_max_age_s}s): flying blind",
        ),
        switch("latency_p99", slow, Gate.PAUSE, f"p99 latency {snap.p99_latency_s}s over {lim.p99_limit_s}s"),
    ]


@dataclass(frozen=True, slots=True)
class LossRecord:
    ts: float
    strategy: str
    pair: str
    venue: str
    regime: str | None
    pnl: Decimal


def _scope(key: tuple[str, str]) -> str:
    kind, value = key
    return GLOBAL if kind == "time" else f"{kind}/{value}"


@dataclass
class AdverseClusterDetector(RiskRule):
    """A rule (throttle) plus a kill switch source (PAUSE) for clusters of losing closes."""

    name = "adverse_cluster"
    window_s: float = 3600.0
    throttle_at: int = 3
    pause_at: int = 5
    throttle_interval_s: float = 60.0
    losses: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    throttled: set[tuple[str, str]] = field(default_factory=set)
    last_sent: dict[tuple[str, str], float] = field(default_factory=dict)

    @staticmethod
    def keys(pair: str, venue: str, regime: str | None) -> list[tuple[str, str]]:
        out = [("time", "*"), ("pair", pair), ("venue", venue)]
        return [*out, ("regime", regime)] if regime else out

    def on_loss(self, rec: LossRecord) -> list[SwitchAction]:
        for key in self.keys(rec.pair, rec.venue, rec.regime):
            self.losses.setdefault(key, deque()).append(rec.ts)
        return self.tick(rec.ts)

    def tick(self, now: float) -> list[SwitchAction]:
        """Re-evaluate every cluster: throttle, pause, or lift."""
        out = []
        for key, times in self.losses.items():
            while times and times[0] <= now - self.window_s:
                times.popleft()
            n = len(times)
            what = f"{n} losing closes clustered by {key[0]}={key[1]} within {self.window_s:.0f}s"
            if n >= self.throttle_at:
                self.throttled.add(key)
            else:
                self.throttled.discard(key)
            gate = Gate.PAUSE if n >= self.pause_at else None
            out.append(SwitchAction(_scope(key), "adverse_cluster", gate, what))
        return out

    def check(self, req: OrderRequest, ctx: CheckContext) -> str | None:
        for key in self.keys(req.pair, ctx.venue, req.regime):
            if key in self.throttled:
                last = self.last_sent.get(key)
                if last is not None and ctx.now - last < self.throttle_interval_s:
                    return (
                        f"cluster {key[0]}={key[1]} is throttled after clustered losses: "
                        f"one order per {self.throttle_interval_s:.0f}s"
                    )
        return None

    def on_sent(self, req: OrderRequest, venue: str, now: float) -> None:
        for key in self.keys(req.pair, venue, req.regime):
            self.last_sent[key] = now


def throttle_change(
    before: set[tuple[str, str]], after: set[tuple[str, str]], reason: str, ts_ns: int
) -> ClusterThrottled | None:
    """The audit event for clusters newly throttled or released, if any changed."""
    if before == after:
        return None
    return ClusterThrottled(
        ts_ns=ts_ns,
        added=sorted(f"{k}={v}" for k, v in after - before),
        released=sorted(f"{k}={v}" for k, v in before - after),
        reason=reason,
    )
