"""The trader's paper desk: WARM strategies' would-be orders filled on the live book, never sent.

Why it exists: a WARM strategy has to earn paper evidence — fills, PnL, drawdown on live data — that
the pipeline compares with the backtest envelope before HOT (roadmap 35). The risk gateway only
records a would-be order under CHECK; this desk then fills it with the :class:`PaperBroker` (the
marketable part at once, walking the opposite levels up to the limit with the taker fee; the rest
resting until a later book trades through it, maker fee) on the book the trader just fetched, and
books the fills in a :class:`RiskBook` of its own, so paper positions never count as live exposure
and live positions never size paper orders.

What it must not do: reach the venue (the broker only reads the book handed to it), fill an order
twice (each broker fill is taken once, in order), or keep final orders (a long run would scan them
on every book).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from quantops_trading.execution.paper import PaperBroker
from quantops_trading.execution.types import Fill, MarketRules, OrderBook, OrderIntent, OrderStatus
from quantops_trading.risk.book import RiskBook

__all__ = ["PaperDesk", "PaperFilled"]


class PaperFilled(BaseModel):
    """One paper fill of a WARM strategy (kind ``paper_fill`` in its event log)."""

    kind: str = "paper_fill"
    ts_ns: int
    strategy_id: str
    client_order_id: str
    symbol: str
    side: str
    quantity: str
    price: str
    fee: str
    liquidity: str
    lineage: dict[str, Any] = {}


@dataclass
class _PaperOrder:
    strategy: str
    symbol: str
    client_order_id: str
    venue_order_id: str
    placed_at: float
    lineage: dict[str, Any]


class PaperDesk:
    """Paper orders and positions of the strategies a trader runs at WARM."""

    def __init__(
        self,
        venue: str,
        markets: dict[str, MarketRules],
        *,
        taker_fee: Decimal,
        maker_fee: Decimal,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.books: dict[str, OrderBook] = {}
        self.broker = PaperBroker(
            venue,
            self._book,
            markets,
            taker_fee=taker_fee,
            maker_fee=maker_fee,
            now_ms=lambda: int(self.clock() * 1000),
        )
        self.positions = RiskBook()
        self.working: dict[str, _PaperOrder] = {}  # client order id → paper order not final yet

    async def _book(self, symbol: str) -> OrderBook:
        return self.books[symbol]

    def position(self, strategy: str, symbol: str) -> Decimal:
        return self.positions.position(strategy, symbol)

    def working_for(self, strategy: str, symbol: str | None = None) -> list[str]:
        return [c for c, o in self.working.items() if o.strategy == strategy and symbol in (None, o.symbol)]

    async def place(
        self, intent: OrderIntent, client_order_id: str, lineage: dict[str, Any]
    ) -> list[PaperFilled]:
        """Paper-trade a would-be order on the last book of its symbol; returns its immediate fills."""
        vo = await self.broker.create_order(intent, client_order_id)
        self.working[client_order_id] = _PaperOrder(
            intent.strategy_id, intent.symbol, client_order_id, vo.venue_order_id, self.clock(), lineage
        )
        return self._settle()

    async def on_book(self, book: OrderBook, mid: Decimal) -> list[PaperFilled]:
        """A fresh book: marks move, and resting paper orders it trades through fill (as maker)."""
        self.books[book.symbol] = book
        self.positions.marks[book.symbol] = mid
        await self.broker.poll(book.symbol)
        return self._settle()

    async def cancel(self, client_order_id: str) -> None:
        if self.working.pop(client_order_id, None) is not None:
            o = self.broker.orders[client_order_id]
            if o.status is OrderStatus.OPEN:
                await self.broker.cancel_order(o.symbol, client_order_id=client_order_id)
            self.broker.forget(client_order_id)

    def _settle(self) -> list[PaperFilled]:
        """Book the broker's new fills (each handed out once), then let go of the final orders."""
        out = [self._book_fill(f) for f in self.broker.take_fills()]
        for cid in [c for c in self.working if self.broker.orders[c].status is not OrderStatus.OPEN]:
            del self.working[cid]
            self.broker.forget(cid)
        return out

    def _book_fill(self, f: Fill) -> PaperFilled:
        order = next(o for o in self.working.values() if o.venue_order_id == f.venue_order_id)
        self.positions.note_fill(order.strategy, f.symbol, f.side, f.quantity, f.price, f.fee, self.clock())
        return PaperFilled(
            ts_ns=f.timestamp_ms * 1_000_000,
            strategy_id=order.strategy,
            client_order_id=order.client_order_id,
            symbol=f.symbol,
            side=f.side.value,
            quantity=str(f.quantity),
            price=str(f.price),
            fee=str(f.fee),
            liquidity="maker" if f.is_maker else "taker",
            lineage=order.lineage,
        )
