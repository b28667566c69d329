"""Microstructure anomalies in L2 books: spoofing-like flicker and sudden depth collapse (41).

Why it exists: a large order that appears near the touch and vanishes before anyone trades
against it moves the microprice and imbalance features without ever being real liquidity; a
strategy that trusted it quotes or trades on a fake signal. A sudden collapse of visible depth
precedes large slippage. Both should lower confidence or pause entries for a moment.

:class:`BookAnomalyDetector` is fed one :class:`BookSnapshot` at a time (strictly causal):

* **spoof** — a level within ``near_touch_bps`` of its side's best price whose quantity is at least
  ``large_multiple`` × the baseline level size (an EWMA of the median level size of *previous*
  books) and at least ``min_depth_share`` of its side's visible depth, that then disappears (or
  shrinks below ``vanish_fraction`` of its size) within
  ``max_lifetime_ms`` while the price never traded through it (bid: best bid still >= its price;
  ask: best ask still <= its price) and while it is still inside the visible depth. Orders that
  were hit, or that rested longer than ``max_lifetime_ms``, are not flagged.
* **liquidity_shock** — total visible depth below ``shock_ratio`` × the median total depth of the
  previous ``shock_window`` books — the same definition as ``liq_shock`` in
  ``features.orderbook`` — reported once on entering the shock state.

What it must not do: cancel or trade; it reports :class:`Anomaly` values and the runtime decides.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quantops_trading.strategy.base import BookSnapshot

__all__ = ["Anomaly", "AnomalyConfig", "BookAnomalyDetector"]


class AnomalyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    near_touch_bps: float = Field(default=5.0, gt=0.0)
    large_multiple: float = Field(default=30.0, gt=1.0)
    min_large_qty: float = Field(default=0.0, ge=0.0, description="Absolute floor for 'large' (base units).")
    min_depth_share: float = Field(
        default=0.3, ge=0.0, lt=1.0, description="Share of its side's visible depth."
    )
    vanish_fraction: float = Field(default=0.2, ge=0.0, lt=1.0)
    max_lifetime_ms: int = Field(default=3_000, ge=1)
    baseline_alpha: float = Field(default=0.05, gt=0.0, le=1.0)
    shock_window: int = Field(default=50, ge=2)
    shock_ratio: float = Field(default=0.5, gt=0.0, lt=1.0)


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: Literal["spoof", "liquidity_shock"]
    instrument_id: str
    ts_ms: int
    side: Literal["bid", "ask", "both"]
    price: float | None = None
    quantity: float | None = None
    lifetime_ms: int | None = None
    detail: str = ""


@dataclass(slots=True)
class _Tracked:
    qty: float
    first_ts: int


@dataclass(slots=True)
class BookAnomalyDetector:
    """Stateful, causal detector for one instrument's book stream."""

    config: AnomalyConfig = field(default_factory=AnomalyConfig)
    _baseline: float | None = None
    _tracked: dict[tuple[str, float], _Tracked] = field(default_factory=dict)
    _depths: deque[float] = field(default_factory=deque)
    _in_shock: bool = False

    def _large(self, qty: float, side_depth: float) -> bool:
        assert self._baseline is not None
        cfg = self.config
        return (
            qty >= max(cfg.large_multiple * self._baseline, cfg.min_large_qty)
            and qty >= cfg.min_depth_share * side_depth
        )

    def _spoofs(self, book: BookSnapshot) -> list[Anomaly]:
        cfg, out = self.config, []
        for side, levels in (("bid", book.bids), ("ask", book.asks)):
            if not levels:
                continue
            best, worst = levels[0][0], levels[-1][0]
            current = dict(levels)
            for (s, px), tr in list(self._tracked.items()):
                if s != side:
                    continue
                qty = current.get(px, 0.0)
                if qty >= cfg.vanish_fraction * tr.qty:
                    tr.qty = max(tr.qty, qty)
                    continue
                del self._tracked[(s, px)]
                traded_through = best < px if side == "bid" else best > px
                out_of_view = px < worst if side == "bid" else px > worst
                lifetime = book.ts_ms - tr.first_ts
                if traded_through or out_of_view or lifetime > cfg.max_lifetime_ms:
                    continue
                out.append(
                    Anomaly(
                        "spoof",
                        book.instrument_id,
                        book.ts_ms,
                        "bid" if side == "bid" else "ask",
                        px,
                        tr.qty,
                        lifetime,
                        f"{tr.qty:g} at {px:g} vanished after {lifetime} ms untouched",
                    )
                )
            if self._baseline is None:
                continue
            side_depth = sum(q for _, q in levels)
            for px, qty in levels:
                if abs(px / best - 1.0) * 1e4 > cfg.near_touch_bps:
                    break
                if self._large(qty, side_depth) and (side, px) not in self._tracked:
                    self._tracked[(side, px)] = _Tracked(qty, book.ts_ms)
        return out

    def _shock(self, book: BookSnapshot) -> list[Anomaly]:
        cfg = self.config
        depth = sum(q for _, q in book.bids) + sum(q for _, q in book.asks)
        out: list[Anomaly] = []
        if len(self._depths) == cfg.shock_window:
            median = statistics.median(self._depths)
            shocked = median > 0 and depth < cfg.shock_ratio * median
            if shocked and not self._in_shock:
                out.append(
                    Anomaly(
                        "liquidity_shock",
                        book.instrument_id,
                        book.ts_ms,
                        "both",
                        None,
                        depth,
                        None,
                        f"depth {depth:g} < {cfg.shock_ratio:g} x median {median:g}",
                    )
                )
            self._in_shock = shocked
        self._depths.append(depth)
        if len(self._depths) > cfg.shock_window:
            self._depths.popleft()
        return out

    def update(self, book: BookSnapshot) -> list[Anomaly]:
        """Feed the next book (time order); returns the anomalies it reveals."""
        out = self._spoofs(book) + self._shock(book)
        sizes = [q for _, q in book.bids] + [q for _, q in book.asks]
        if sizes:
            med = statistics.median(sizes)
            a = self.config.baseline_alpha
            self._baseline = med if self._baseline is None else (1 - a) * self._baseline + a * med
        return out
