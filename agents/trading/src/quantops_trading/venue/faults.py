"""Fault injection: which request gets which failure, decided deterministically under a seed.

Why it exists: the execution layer's retries, circuit breakers, idempotent submits and failover are
only trustworthy if they have been hit by the failures real venues produce — 429/418 with
Retry-After, 5xx, maintenance, timeouts, dropped connections (before *and* after an order is
accepted), clock skew and stale books. Rules come from the config file or the control API
(``POST /_sim/faults``) and fire by rate (seeded) or schedule (after N requests, at most M times).

``clock_skew``, ``stale_book`` and the data faults (``crossed_book``, ``price_glitch``,
``wrong_fill``: what the venue *publishes* is wrong, its matching is not) are *states*: active while
the rule exists. Everything else is a per-request decision. This module decides; ``server.py``
acts. No I/O here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from quantops_trading.venue.config import FaultRule, LatencyModel

__all__ = ["ActiveFault", "FaultInjector", "LatencySampler"]

STATE_KINDS = frozenset({"clock_skew", "stale_book", "crossed_book", "price_glitch", "wrong_fill"})


@dataclass(slots=True)
class ActiveFault:
    """A rule plus its bookkeeping (requests seen, times fired)."""

    rule_id: int
    rule: FaultRule
    seen: int = 0
    fired: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "id": self.rule_id,
            "seen": self.seen,
            "fired": self.fired,
            **self.rule.model_dump(by_alias=True, mode="json"),
        }


class FaultInjector:
    """The fault rules of one venue and their seeded decisions."""

    def __init__(self, rules: list[FaultRule], seed: int) -> None:
        self._rng = random.Random(seed ^ 0x5EED)
        self._faults: dict[int, ActiveFault] = {}
        self._next = 1
        for r in rules:
            self.add(r)

    def add(self, rule: FaultRule) -> int:
        """Install a rule; returns its id (for ``DELETE /_sim/faults/{id}``)."""
        rid = self._next
        self._next += 1
        self._faults[rid] = ActiveFault(rid, rule)
        return rid

    def remove(self, rule_id: int | None = None) -> None:
        """Remove one rule, or all of them when ``rule_id`` is None."""
        if rule_id is None:
            self._faults.clear()
        else:
            self._faults.pop(rule_id, None)

    def listing(self) -> list[dict[str, object]]:
        return [f.summary() for f in self._faults.values()]

    @property
    def skew_ms(self) -> int:
        """Total server clock shift from active ``clock_skew`` rules."""
        return sum(f.rule.skew_ms for f in self._faults.values() if f.rule.kind == "clock_skew")

    @property
    def stale_book(self) -> bool:
        return self.active("stale_book")

    def active(self, kind: str) -> bool:
        """A state fault of this kind is installed."""
        return any(f.rule.kind == kind for f in self._faults.values())

    def decide(self, method: str, path: str) -> FaultRule | None:
        """The first per-request fault that fires for this request, if any (order = install order)."""
        if path.startswith("/_sim"):
            return None
        chosen: FaultRule | None = None
        for f in self._faults.values():
            r = f.rule
            if r.kind in STATE_KINDS or r.path not in path:
                continue
            if r.method is not None and r.method.upper() != method.upper():
                continue
            f.seen += 1
            if chosen is not None or f.seen <= r.after_requests:
                continue
            if r.count is not None and f.fired >= r.count:
                continue
            if r.rate < 1.0 and self._rng.random() >= r.rate:
                continue
            f.fired += 1
            chosen = r
        return chosen


class LatencySampler:
    """Seeded processing delay per request (seconds)."""

    def __init__(self, model: LatencyModel, seed: int) -> None:
        self._model = model
        self._rng = random.Random(seed ^ 0x1A7E)

    def sample_s(self) -> float:
        m = self._model
        if m.base_ms <= 0 and m.jitter_ms <= 0:
            return 0.0
        return (m.base_ms + m.jitter_ms * self._rng.random()) / 1000.0
