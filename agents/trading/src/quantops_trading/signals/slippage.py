"""Venue-specific slippage models calibrated from observed fills: fit, store, use, drift alarm (48).

Why it exists: expected slippage is part of every edge check (``OrderRequest.expected_slippage_bps``,
``guardrails`` net edge). A constant guess is wrong on a thin venue and wasteful on a deep one,
and it silently goes stale when a venue's liquidity changes. So each venue gets a model fitted on
its own fills, persisted, and watched.

* **Observation** — :class:`ObservedFill`: side, quantity, the mid at decision time, the average
  fill price and the visible depth on the side consumed. Slippage (bps, positive = cost):
  ``sign · (fill / mid - 1) · 1e4`` with sign +1 for buys.
* **Model** — ``slippage_bps = a + b · sqrt(quantity / depth)`` (square-root impact), fitted by
  least squares per venue; ``resid_std_bps`` kept for the alarm.
* **Store** — :class:`SlippageStore` writes one JSON file per venue (atomic replace) and reads it back.
* **Drift alarm** — :class:`DriftMonitor`: two-sided CUSUM on standardised residuals of new fills;
  ``alarm`` when either side exceeds ``threshold`` (then refit).

:func:`walk_book` turns a real L2 snapshot and a taker quantity into the fill a market order would
get (used by the tests and the paper venue to produce observations from the shared books).
What it must not do: place orders or read data after a fill when fitting it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from quantops_trading.strategy.base import BookSnapshot

__all__ = ["DriftMonitor", "ObservedFill", "SlippageModel", "SlippageStore", "fit_slippage", "walk_book"]


@dataclass(frozen=True, slots=True)
class ObservedFill:
    venue: str
    buy: bool
    quantity: float
    mid: float
    fill_price: float
    depth: float
    ts_ms: int = 0

    @property
    def slippage_bps(self) -> float:
        return (1 if self.buy else -1) * (self.fill_price / self.mid - 1.0) * 1e4

    @property
    def participation(self) -> float:
        return math.sqrt(self.quantity / self.depth) if self.depth > 0 else 1.0


class SlippageModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    venue: str
    a_bps: float
    b_bps: float
    resid_std_bps: float = Field(ge=0.0)
    n: int = Field(ge=2)
    fitted_until_ms: int = 0

    def predict(self, quantity: float, depth: float) -> float:
        """Expected slippage in bps (never negative) for taking ``quantity`` against ``depth``."""
        x = math.sqrt(quantity / depth) if depth > 0 else 1.0
        return max(0.0, self.a_bps + self.b_bps * x)


def fit_slippage(fills: Sequence[ObservedFill]) -> SlippageModel:
    """Least-squares fit on one venue's fills (at least 2, all from the same venue)."""
    venues = {f.venue for f in fills}
    if len(fills) < 2 or len(venues) != 1:
        raise ValueError(
            f"fit_slippage needs >= 2 fills of one venue, got {len(fills)} from {sorted(venues)}"
        )
    x = np.array([f.participation for f in fills])
    y = np.array([f.slippage_bps for f in fills])
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    std = float(resid.std(ddof=2)) if len(fills) > 2 else 0.0
    return SlippageModel(
        venue=venues.pop(),
        a_bps=float(coef[0]),
        b_bps=float(coef[1]),
        resid_std_bps=std,
        n=len(fills),
        fitted_until_ms=max(f.ts_ms for f in fills),
    )


@dataclass(frozen=True, slots=True)
class SlippageStore:
    root: Path

    def path(self, venue: str) -> Path:
        return self.root / f"slippage-{venue}.json"

    def save(self, model: SlippageModel) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.path(model.venue)
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(model.model_dump_json(indent=2))
        os.replace(tmp, target)
        return target

    def load(self, venue: str) -> SlippageModel | None:
        p = self.path(venue)
        return SlippageModel.model_validate_json(p.read_text()) if p.is_file() else None


@dataclass(slots=True)
class DriftMonitor:
    """Two-sided CUSUM of standardised residuals ``(observed - predicted) / resid_std``."""

    model: SlippageModel
    slack: float = 1.0  # residuals of consecutive fills are autocorrelated: demand a real shift
    threshold: float = 12.0
    high: float = 0.0
    low: float = 0.0
    seen: int = 0
    alarms: list[int] = field(default_factory=list)

    def update(self, fill: ObservedFill) -> bool:
        std = max(self.model.resid_std_bps, 1e-6)
        z = (fill.slippage_bps - self.model.predict(fill.quantity, fill.depth)) / std
        self.high = max(0.0, self.high + z - self.slack)
        self.low = max(0.0, self.low - z - self.slack)
        self.seen += 1
        if self.alarm:
            self.alarms.append(fill.ts_ms)
        return self.alarm

    @property
    def alarm(self) -> bool:
        return self.high > self.threshold or self.low > self.threshold


def walk_book(book: BookSnapshot, buy: bool, quantity: float, venue: str) -> ObservedFill | None:
    """The fill of a market order of ``quantity`` against ``book`` (None if the visible depth is short)."""
    levels = book.asks if buy else book.bids
    left, cost = quantity, 0.0
    for px, qty in levels:
        take = min(left, qty)
        cost += take * px
        left -= take
        if left <= 1e-12:
            depth = sum(q for _, q in levels)
            return ObservedFill(venue, buy, quantity, book.mid, cost / quantity, depth, book.ts_ms)
    return None
