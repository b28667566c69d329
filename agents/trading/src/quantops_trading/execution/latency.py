"""Venue request latency histograms and p99 gating (roadmap 73).

Why it exists: a venue can be "up" yet too slow to trade on. Every round trip is observed into a
Prometheus histogram ``quantops_venue_request_seconds`` (labels ``venue`` and ``op``: ``submit``
— the submit→ack latency —, ``cancel``, ``read``; registry injectable so an agent serves it and
tests read it) and into a bounded window from which p99 is computed; when p99 exceeds the bound
(with at least ``min_samples``), :attr:`LatencyTracker.degraded` is True and the connector
degrades itself.
"""

from __future__ import annotations

import math
from collections import deque

from prometheus_client import CollectorRegistry, Histogram

__all__ = ["LatencyTracker"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LatencyTracker:
    """Histogram + rolling p99 of one venue's request latency."""

    def __init__(
        self,
        venue: str,
        registry: CollectorRegistry | None = None,
        *,
        p99_bound_s: float = 1.0,
        window: int = 200,
        min_samples: int = 20,
    ) -> None:
        self.venue = venue
        self.p99_bound_s = p99_bound_s
        self.min_samples = min_samples
        self._samples: deque[float] = deque(maxlen=window)
        self._by_op: dict[str, deque[float]] = {}
        self.histogram = Histogram(
            "quantops_venue_request_seconds",
            "Venue request round trip (op=submit: order submit to acknowledgement)",
            ["venue", "op"],
            registry=registry if registry is not None else CollectorRegistry(),
            buckets=_BUCKETS,
        )

    def observe(self, seconds: float, op: str = "submit") -> None:
        self._samples.append(seconds)
        self._by_op.setdefault(op, deque(maxlen=self._samples.maxlen)).append(seconds)
        self.histogram.labels(venue=self.venue, op=op).observe(seconds)

    def percentiles(self, op: str) -> dict[str, float] | None:
        """``n``, ``p50`` and ``p99`` (nearest rank, seconds) of the recent window of one ``op``."""
        ordered = sorted(self._by_op.get(op, ()))
        if not ordered:
            return None
        n = len(ordered)
        return {
            "n": n,
            "p50": ordered[max(0, math.ceil(0.5 * n) - 1)],
            "p99": ordered[max(0, math.ceil(0.99 * n) - 1)],
        }

    @property
    def p99(self) -> float | None:
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        index = max(0, math.ceil(0.99 * len(ordered)) - 1)  # nearest-rank p99
        return ordered[index]

    @property
    def degraded(self) -> bool:
        p99 = self.p99
        return p99 is not None and len(self._samples) >= self.min_samples and p99 > self.p99_bound_s
