"""Per-venue circuit breaker with a health score (roadmap 67).

Why it exists: a venue that keeps failing must stop receiving orders quickly (open), be probed
gently after a cool-down (half-open), and be trusted again only after probes succeed (closed).
Besides consecutive failures, a *health score* in [0, 1] — an exponentially weighted mix of call
outcomes, latency against its bound, and order rejects — opens the breaker when the venue is slow
or rejecting even if calls technically succeed. Time is injected. No I/O, no ccxt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BreakerConfig", "BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 5  # consecutive failures that open the breaker
    min_health: float = 0.3  # health below this opens the breaker
    cooldown_s: float = 5.0  # open → half-open after this long
    half_open_probes: int = 2  # successes in half-open needed to close
    alpha: float = 0.2  # EWMA weight of the newest observation
    latency_bound_s: float = 1.0  # a call slower than this counts as half a failure
    reject_weight: float = 0.5  # an order reject counts as this much failure


class CircuitBreaker:
    """closed → open (failures/poor health) → half-open (after cooldown) → closed/open."""

    def __init__(
        self, config: BreakerConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or BreakerConfig()
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._consecutive = 0
        self._probes = 0
        self.health = 1.0
        self.transitions: list[tuple[BreakerState, BreakerState, str]] = []

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.config.cooldown_s:
            self._move(BreakerState.HALF_OPEN, "cooldown elapsed")
        return self._state

    def allow(self) -> bool:
        """Whether a call may go out now (half-open lets probes through)."""
        return self.state is not BreakerState.OPEN

    def _move(self, to: BreakerState, why: str) -> None:
        if to is self._state:
            return
        self.transitions.append((self._state, to, why))
        self._state = to
        if to is BreakerState.OPEN:
            self._opened_at = self._clock()
        self._probes = 0

    def _observe(self, score: float) -> None:
        a = self.config.alpha
        self.health = (1 - a) * self.health + a * score

    def record_success(self, latency_s: float = 0.0) -> None:
        state = self.state
        slow = latency_s > self.config.latency_bound_s
        self._observe(0.5 if slow else 1.0)
        self._consecutive = 0
        if state is BreakerState.HALF_OPEN:
            self._probes += 1
            if self._probes >= self.config.half_open_probes:
                self.health = max(self.health, self.config.min_health + 0.1)
                self._move(BreakerState.CLOSED, "probes succeeded")
        elif self.health < self.config.min_health:
            self._move(BreakerState.OPEN, f"health {self.health:.2f} (slow)")

    def record_failure(self, reason: str = "error") -> None:
        state = self.state
        self._observe(0.0)
        self._consecutive += 1
        if state is BreakerState.HALF_OPEN:
            self._move(BreakerState.OPEN, f"probe failed: {reason}")
        elif self._consecutive >= self.config.failure_threshold:
            self._move(BreakerState.OPEN, f"{self._consecutive} consecutive failures: {reason}")
        elif self.health < self.config.min_health:
            self._move(BreakerState.OPEN, f"health {self.health:.2f}: {reason}")

    def record_reject(self) -> None:
        """The venue answered but refused an order: the venue is up, the flow may be wrong."""
        self._observe(1.0 - self.config.reject_weight)
        if self.state is BreakerState.CLOSED and self.health < self.config.min_health:
            self._move(BreakerState.OPEN, f"health {self.health:.2f} (rejects)")

    def degrade(self, reason: str) -> None:
        """Force open (e.g. p99 latency over its bound)."""
        self._move(BreakerState.OPEN, reason)
