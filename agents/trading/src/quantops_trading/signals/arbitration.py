"""Combining signals: max-confidence conflict resolution (38) and the momentum/mean-reversion ensemble (42).

Why it exists: several strategies (or the members of an ensemble) can want opposite things on the
same instrument in the same instant. Sending both to the RiskGateway would net them at best and
pay fees twice at worst, so exactly one decision per instrument leaves this module, and every
overruled signal is *logged with the reason it lost* (``Resolution.losers``; the runtime records
them through ``signals.attribution`` as ``lost_arbitration`` decisions).

* :func:`resolve` — max-confidence arbitration: the candidate with the highest
  ``confidence × weight`` wins; an exact tie between opposing directions resolves to *no trade*
  (the conservative choice), a tie between agreeing ones to the first candidate.
* :func:`ensemble` — a regime-weighted blend of a momentum and a mean-reversion signal:
  ``value = Σ wᵢcᵢvᵢ / Σ wᵢ`` and ``confidence`` = the weighted share of conviction that agrees
  with the blended direction; per-member contributions go into the attribution.

What it must not do: size, throttle or block (``sizing``, ``throttle``, ``divergence`` do).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from quantops_trading.model.ids import InstrumentId
from quantops_trading.strategy.base import Signal

__all__ = ["Candidate", "Resolution", "ensemble", "resolve"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A signal proposed by ``source`` (a strategy id); ``weight`` scales its confidence (regime weight)."""

    source: str
    signal: Signal
    weight: float = 1.0

    @property
    def score(self) -> float:
        return self.signal.confidence * self.weight

    @property
    def direction(self) -> int:
        v = self.signal.value
        return 1 if v > 0 else -1 if v < 0 else 0


@dataclass(frozen=True, slots=True)
class Resolution:
    """The outcome for one instrument: the winner (None = stay out), and each loser with its reason."""

    instrument_id: str
    winner: Candidate | None
    losers: tuple[tuple[Candidate, str], ...]
    conflict: bool


def _resolve_one(instrument: str, cands: list[Candidate], min_confidence: float) -> Resolution:
    eligible = [c for c in cands if c.signal.confidence >= min_confidence]
    losers = [
        (c, f"confidence {c.signal.confidence:.3f} < minimum {min_confidence:.3f}")
        for c in cands
        if c not in eligible
    ]
    conflict = len({c.direction for c in eligible if c.direction != 0}) > 1
    if not eligible:
        return Resolution(instrument, None, tuple(losers), conflict)
    ranked = sorted(eligible, key=lambda c: c.score, reverse=True)  # stable: first wins agreeing ties
    best = ranked[0]
    tied = [c for c in ranked if c.score == best.score and c.direction != best.direction]
    if tied:
        for c in ranked:
            losers.append((c, f"tie at score {best.score:.3f} between opposing directions: stay out"))
        return Resolution(instrument, None, tuple(losers), conflict)
    for c in ranked[1:]:
        why = "opposed" if c.direction != best.direction else "agreed but"
        losers.append((c, f"{why}: score {c.score:.3f} < winner {best.source} {best.score:.3f}"))
    return Resolution(instrument, best, tuple(losers), conflict)


def resolve(candidates: Iterable[Candidate], *, min_confidence: float = 0.0) -> dict[str, Resolution]:
    """One :class:`Resolution` per instrument; losers are logged at INFO with their reasons."""
    by_instrument: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_instrument.setdefault(str(c.signal.instrument_id), []).append(c)
    out = {}
    for instrument, cands in by_instrument.items():
        res = _resolve_one(instrument, cands, min_confidence)
        for loser, reason in res.losers:
            log.info("arbitration %s: %s lost (%s)", instrument, loser.source, reason)
        out[instrument] = res
    return out


def ensemble(
    members: Mapping[str, Signal],
    weights: Mapping[str, float],
    *,
    instrument_id: str | None = None,
    ts_ms: int | None = None,
) -> Signal | None:
    """Blend member signals (``{"momentum": s1, "mean_reversion": s2}``) with regime ``weights``.

    Members without a weight count with weight 0. Returns None when no member has positive weight.
    """
    used = {k: s for k, s in members.items() if weights.get(k, 0.0) > 0}
    if not used:
        return None
    total_w = sum(weights[k] for k in used)
    contrib = {k: weights[k] * s.confidence * s.value for k, s in used.items()}
    value = max(-1.0, min(1.0, sum(contrib.values()) / total_w))
    conviction = {k: weights[k] * s.confidence for k, s in used.items()}
    direction = 1 if value > 0 else -1 if value < 0 else 0
    total_c = sum(conviction.values())
    agree = sum(c for k, c in conviction.items() if direction != 0 and used[k].value * direction > 0)
    confidence = agree / total_c if total_c > 0 else 0.0
    first = next(iter(used.values()))
    attribution = {f"contrib_{k}": v for k, v in contrib.items()}
    attribution |= {f"weight_{k}": weights[k] for k in used}
    return Signal(
        instrument_id=InstrumentId(instrument_id or first.instrument_id),
        ts_ms=ts_ms if ts_ms is not None else max(s.ts_ms for s in used.values()),
        value=value,
        confidence=confidence,
        attribution=attribution,
        reason="ensemble " + ",".join(f"{k}={s.value:+.0f}" for k, s in used.items()),
    )
