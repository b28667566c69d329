"""Adaptive signal throttling when the recent false-positive rate is high (45).

Why it exists: a strategy whose signals have recently been wrong most of the time is either in the
wrong regime or broken; letting it fire at full rate pays fees and spread for nothing. The throttle
watches the realised outcome of each source's last ``window`` signals and, while the
false-positive rate is above ``max_fp_rate``, lets through only strong signals
(``confidence >= throttled_min_confidence``) and at most one signal per ``throttled_every``. It
releases only below ``release_fp_rate`` (hysteresis), so it does not flap around the threshold.

A *false positive* is judged by :func:`is_false_positive`: the position the signal asked for lost
more than the round-trip cost over the evaluation horizon (a winner that only covered fees counts
as a false positive too — it did not pay).

Its configuration is the trader's ``spec.config.signals.throttle`` block
(``quantops_api.v1alpha1.roleconfig.TraderThrottle``, wire names in camelCase), one model for
the CRD, ``quantops validate`` and this module.

What it must not do: judge outcomes before they are known; the caller records an outcome only once
its horizon has elapsed (no look-ahead), and a source with fewer than ``min_samples`` outcomes is
never throttled.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from quantops_api.v1alpha1.roleconfig import TraderThrottle as ThrottleConfig

__all__ = ["SignalThrottle", "ThrottleConfig", "ThrottleDecision", "is_false_positive"]


def is_false_positive(value: float, entry_price: float, exit_price: float, cost_bps: float = 0.0) -> bool:
    """True when a position of sign ``value`` from entry to exit did not beat ``cost_bps``."""
    if value == 0:
        return False
    pnl_bps = (1 if value > 0 else -1) * (exit_price / entry_price - 1.0) * 1e4
    return pnl_bps <= cost_bps


@dataclass(frozen=True, slots=True)
class ThrottleDecision:
    allowed: bool
    throttled: bool
    fp_rate: float | None
    reason: str


@dataclass(slots=True)
class _Source:
    outcomes: deque[bool]
    throttled: bool = False
    since_allowed: int = 0


@dataclass(slots=True)
class SignalThrottle:
    """Per-source throttle state; ``record`` outcomes as they become known, ask ``allow`` per signal.
    The trader keeps one for all its strategies (``runtime.signal_chain``), in memory only."""

    config: ThrottleConfig = field(default_factory=ThrottleConfig)
    _sources: dict[str, _Source] = field(default_factory=dict)

    def _src(self, source: str) -> _Source:
        s = self._sources.get(source)
        if s is None:
            s = self._sources[source] = _Source(deque(maxlen=self.config.window))
        return s

    def fp_rate(self, source: str) -> float | None:
        s = self._src(source)
        if len(s.outcomes) < self.config.min_samples:
            return None
        return sum(s.outcomes) / len(s.outcomes)

    def record(self, source: str, false_positive: bool) -> None:
        s = self._src(source)
        s.outcomes.append(false_positive)
        rate = self.fp_rate(source)
        if rate is None:
            return
        if not s.throttled and rate > self.config.max_fp_rate:
            s.throttled, s.since_allowed = True, self.config.throttled_every  # next strong one may pass
        elif s.throttled and rate < self.config.release_fp_rate:
            s.throttled = False

    def allow(self, source: str, confidence: float) -> ThrottleDecision:
        s = self._src(source)
        rate = self.fp_rate(source)
        if not s.throttled:
            return ThrottleDecision(True, False, rate, "not throttled")
        s.since_allowed += 1
        if confidence < self.config.throttled_min_confidence:
            return ThrottleDecision(False, True, rate, f"throttled (fp rate {rate:.0%}): confidence too low")
        if s.since_allowed < self.config.throttled_every:
            return ThrottleDecision(False, True, rate, f"throttled (fp rate {rate:.0%}): rate limited")
        s.since_allowed = 0
        return ThrottleDecision(
            True, True, rate, f"throttled (fp rate {rate:.0%}): strong signal let through"
        )
