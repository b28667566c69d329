"""Passive market making: post-only quotes around the microprice, skewed by inventory.

Why it exists: a maker earns the spread and maker rebates instead of paying taker fees, but only
if it stays passive (never crosses), keeps inventory bounded and does not re-quote on every tick.
This is the reference implementation of those three rules for the venue simulator's books.

Per book update (``on_book``) of its instrument:

* ``fair = microprice - skewBpsPerUnit · inventory · mid / 1e4`` (long inventory → quote lower,
  so the ask gets lifted sooner and the bid less often);
* ``bid = min(fair · (1 - halfSpreadBps/1e4), best_bid)``, ``ask = max(fair · (1 + h), best_ask)``,
  rounded *away* from the touch to ``tickSize`` — a quote never crosses the book;
* no bid while ``inventory >= maxInventory``, no ask while ``inventory <= -maxInventory``;
* re-quote only when ``fair`` moved more than ``requoteBps`` since the last quotes, or after a
  fill (``on_fill`` updates inventory and forces a re-quote).

Outputs are post-only limit :class:`Intent` s tagged ``quote-bid``/``quote-ask``; the runtime
replaces a resting quote with the same tag (cancel-replace) through the RiskGateway.
What it must not do: send market orders or quote across the spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from pydantic import Field

from quantops_trading.execution.types import Side
from quantops_trading.model.ids import InstrumentId
from quantops_trading.model.orders import Fill, OrderSide
from quantops_trading.strategy.base import Bar, BookSnapshot, Intent, Output, Strategy, StrategyParams

__all__ = ["MarketMaking", "MarketMakingParams"]


class MarketMakingParams(StrategyParams):
    """Quote geometry (bps), size and inventory bounds in base units."""

    half_spread_bps: float = Field(default=1.0, ge=0.0, le=500.0)
    quote_size: Decimal = Field(default=Decimal("0.001"), gt=0)
    max_inventory: Decimal = Field(default=Decimal("0.01"), gt=0)
    skew_bps_per_unit: float = Field(default=50.0, ge=0.0, description="Fair-value shift per unit held.")
    requote_bps: float = Field(default=0.5, ge=0.0)
    tick_size: Decimal = Field(default=Decimal("0.01"), gt=0)


class MarketMaking(Strategy):
    """Two-sided passive quoting on one instrument's book."""

    Params = MarketMakingParams

    def __init__(self, params: StrategyParams) -> None:
        super().__init__(params)
        assert isinstance(params, MarketMakingParams)
        self.p = params
        self.inventory = Decimal(0)
        self._last_fair: float | None = None
        self._dirty = True

    def on_bar(self, bar: Bar, **kwargs: Any) -> Sequence[Output]:
        return ()

    def on_fill(self, fill: Fill, **kwargs: Any) -> Sequence[Output]:
        self.inventory += fill.quantity if fill.side is OrderSide.BUY else -fill.quantity
        self._dirty = True
        return ()

    def _round(self, price: float, down: bool) -> Decimal:
        ticks = (Decimal(repr(price)) / self.p.tick_size).to_integral_value(
            ROUND_FLOOR if down else ROUND_CEILING
        )
        return ticks * self.p.tick_size

    def on_book(self, book: BookSnapshot, **kwargs: Any) -> Sequence[Output]:
        if not book.bids or not book.asks or book.best_bid >= book.best_ask:
            return ()  # empty or crossed book: never quote into it
        mid = book.mid
        fair = book.microprice - self.p.skew_bps_per_unit * float(self.inventory) * mid / 1e4
        moved = self._last_fair is None or abs(fair / self._last_fair - 1.0) * 1e4 > self.p.requote_bps
        if not (moved or self._dirty):
            return ()
        self._last_fair, self._dirty = fair, False
        h = self.p.half_spread_bps / 1e4
        bid = self._round(min(fair * (1 - h), book.best_bid), down=True)
        ask = self._round(max(fair * (1 + h), book.best_ask), down=False)
        attr = {
            "microprice": book.microprice,
            "fair": fair,
            "inventory": float(self.inventory),
            "spread_bps": (book.best_ask / book.best_bid - 1.0) * 1e4,
        }
        inst = InstrumentId(book.instrument_id)
        out: list[Output] = []
        room = 1.0 - min(1.0, abs(float(self.inventory)) / float(self.p.max_inventory))
        for side, price, allowed in (
            (Side.BUY, bid, self.inventory < self.p.max_inventory),
            (Side.SELL, ask, self.inventory > -self.p.max_inventory),
        ):
            if not allowed:
                continue
            out.append(
                Intent(
                    instrument_id=inst,
                    ts_ms=book.ts_ms,
                    confidence=0.5 + 0.5 * room,
                    attribution=attr,
                    reason="quote",
                    side=side,
                    quantity=self.p.quote_size,
                    price=price,
                    post_only=True,
                    tag="quote-bid" if side is Side.BUY else "quote-ask",
                )
            )
        return out
