"""Data freshness SLAs per source, as metrics and as a GO/NO_GO trading signal (roadmap 87).

Why it exists: a feed that silently stops updating is worse than one that errors: the strategy
keeps trading on the last price. Each source gets an SLA (max age of its newest data); the
monitor records the newest *exchange* timestamp seen per source and, against an injected clock,
reports age and a ``NO_GO`` status once the age exceeds the SLA. Metrics:
``quantops_data_age_seconds{source}``, ``quantops_data_no_go{source}`` (1 = NO_GO) and
``quantops_data_freshness_breaches_total{source}`` (counts transitions into breach).

A source that has never reported is NO_GO (fail closed). A timestamp older than the newest one
already seen does not make a source fresher.

What it must not do: flip gates itself; the risk layer reads :meth:`FreshnessMonitor.status`
(or the ``FreshnessBreached`` events) and decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from prometheus_client import CollectorRegistry

from quantops_trading.data.clock import Clock, SystemClock
from quantops_trading.data.metrics import data_metrics
from quantops_trading.model.events import FreshnessBreached

__all__ = ["FreshnessMonitor", "FreshnessStatus", "SourceFreshness"]


class FreshnessStatus(StrEnum):
    GO = "GO"
    NO_GO = "NO_GO"


@dataclass(frozen=True, slots=True)
class SourceFreshness:
    source: str
    status: FreshnessStatus
    age_ms: int | None
    sla_ms: int


class FreshnessMonitor:
    """Tracks the newest timestamp per source against per-source SLAs (ms)."""

    def __init__(
        self,
        slas_ms: dict[str, int],
        *,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        bad = {s: v for s, v in slas_ms.items() if v <= 0}
        if bad:
            raise ValueError(f"freshness SLAs must be > 0 ms: {bad}")
        self._slas = dict(slas_ms)
        self._clock = clock or SystemClock()
        self._latest: dict[str, int] = {}
        self._breached: set[str] = set()
        self._metrics = data_metrics(registry)

    def observe(self, source: str, ts_ms: int) -> None:
        """Record data of ``source`` with exchange time ``ts_ms``."""
        if source not in self._slas:
            raise KeyError(f"no freshness SLA for source {source!r} (known: {sorted(self._slas)})")
        if ts_ms > self._latest.get(source, -1):
            self._latest[source] = ts_ms

    def check(self, source: str) -> SourceFreshness:
        """Status of one source now; updates its metrics and counts a new breach."""
        if source not in self._slas:
            raise KeyError(f"no freshness SLA for source {source!r} (known: {sorted(self._slas)})")
        sla = self._slas[source]
        latest = self._latest.get(source)
        age = None if latest is None else max(0, self._clock.now_ms() - latest)
        stale = age is None or age > sla
        if stale and source not in self._breached:
            self._breached.add(source)
            self._metrics.freshness_breaches.labels(source=source).inc()
        elif not stale:
            self._breached.discard(source)
        if age is not None:
            self._metrics.freshness_age.labels(source=source).set(age / 1000.0)
        self._metrics.no_go.labels(source=source).set(1 if stale else 0)
        return SourceFreshness(source, FreshnessStatus.NO_GO if stale else FreshnessStatus.GO, age, sla)

    def status(self) -> dict[str, SourceFreshness]:
        return {s: self.check(s) for s in sorted(self._slas)}

    def tradable(self, source: str) -> bool:
        return self.check(source).status is FreshnessStatus.GO

    def breach_events(self) -> list[FreshnessBreached]:
        """A ``FreshnessBreached`` event for every source currently in breach (age -1 = never seen)."""
        events = []
        for s, f in self.status().items():
            if f.status is FreshnessStatus.NO_GO:
                events.append(
                    FreshnessBreached(source=s, age_ms=-1 if f.age_ms is None else f.age_ms, sla_ms=f.sla_ms)
                )
        return events
