"""Volatility-targeting position sizing as a prefilter before the RiskGateway (40).

Why it exists: a signal says *which way* and *how sure*; how much to trade must depend on how much
the instrument moves, or a quiet pair and a wild one get the same dollar size and wildly different
risk. Sizing to a volatility target makes each position contribute roughly the same expected
volatility to the book, and the hard caps keep a tiny volatility estimate (a flat, zero-volume
stretch) from turning into an enormous order.

Rule (all inputs per bar of the signal's timeframe):

    vol_annual = rv_per_bar · sqrt(bars_per_year)
    notional   = equity · |value| · confidence · target_vol / vol_annual
    notional   = min(notional, max_leverage · equity, max_notional)        → capped=True if cut
    quantity   = floor(notional / price to step_size)

It is a *prefilter*: a missing/zero volatility estimate, a confidence below
``min_confidence`` or a result below ``min_notional`` returns ``passed=False`` with the reason, and
the runtime drops the signal instead of sending a dust order the RiskGateway would deny anyway.

What it must not do: decide direction or bypass risk limits — the RiskGateway still checks exposure,
concentration and budgets on the resulting request.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SizeDecision", "VolTargetConfig", "realised_vol", "vol_target_size"]


class VolTargetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target_vol: float = Field(default=0.20, gt=0.0, le=5.0, description="Annualised volatility target.")
    bars_per_year: float = Field(default=365 * 24 * 60, gt=0.0, description="Default: 1m bars, 24/7.")
    max_leverage: float = Field(default=1.0, gt=0.0, le=20.0)
    max_notional: Decimal = Field(default=Decimal(50_000), gt=0)
    min_notional: Decimal = Field(default=Decimal(10), ge=0)
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    step_size: Decimal = Field(default=Decimal("0.00001"), gt=0)


@dataclass(frozen=True, slots=True)
class SizeDecision:
    """The sized quantity (base units, >= 0) or why the signal was filtered out."""

    passed: bool
    quantity: Decimal
    notional: Decimal
    capped: bool
    reason: str


def _reject(reason: str) -> SizeDecision:
    return SizeDecision(False, Decimal(0), Decimal(0), False, reason)


def vol_target_size(
    value: float,
    confidence: float,
    rv_per_bar: float | None,
    price: Decimal,
    equity: Decimal,
    config: VolTargetConfig | None = None,
) -> SizeDecision:
    """Size one signal; see the module docstring for the formula and the filters."""
    cfg = config or VolTargetConfig()
    if value == 0:
        return _reject("flat signal")
    if confidence < cfg.min_confidence:
        return _reject(f"confidence {confidence:.3f} below {cfg.min_confidence:.3f}")
    if rv_per_bar is None or not math.isfinite(rv_per_bar) or rv_per_bar <= 0:
        return _reject("no volatility estimate")
    if price <= 0 or equity <= 0:
        return _reject("price and equity must be positive")
    vol_annual = rv_per_bar * math.sqrt(cfg.bars_per_year)
    raw = float(equity) * abs(value) * confidence * cfg.target_vol / vol_annual
    cap = min(Decimal(repr(cfg.max_leverage)) * equity, cfg.max_notional)
    notional = Decimal(repr(raw))
    capped = notional > cap
    notional = min(notional, cap)
    qty = (notional / price / cfg.step_size).to_integral_value(ROUND_FLOOR) * cfg.step_size
    notional = qty * price
    if notional < cfg.min_notional or qty <= 0:
        return SizeDecision(False, Decimal(0), Decimal(0), capped, f"notional {notional:.2f} below minimum")
    reason = "capped" if capped else f"vol target {cfg.target_vol:.0%} at vol {vol_annual:.1%}"
    return SizeDecision(True, qty, notional, capped, reason)


def realised_vol(closes: Sequence[float]) -> float | None:
    """Sample standard deviation of the log returns between consecutive ``closes`` — the
    ``rv_per_bar`` of :func:`vol_target_size` at the spacing of ``closes`` (the trader's: its
    polls). None with fewer than three prices or a price that is not positive and finite."""
    if len(closes) < 3 or not all(math.isfinite(c) and c > 0 for c in closes):
        return None
    return statistics.stdev(math.log(b / a) for a, b in itertools.pairwise(closes))
