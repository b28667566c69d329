"""The paper broker: an in-process ``ExecutionClient`` filling on live books (roadmap 78).

Why it exists: in CHECK mode — and when the live venue is unavailable, which demotes GO to CHECK —
orders must still be validated, "filled" and recorded as would-be orders on *live* data, without
anything reaching a venue. Paper trading is an adapter behind the same port as ccxt (STYLE 2.6), not
a ``dry_run`` flag. Marketable orders fill against the supplied book (walking levels, taker fee);
the rest rest until :meth:`PaperBroker.poll` sees a book that trades through them (maker fee).
:func:`choose_route` is the gate rule that picks live, paper or a denial.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from decimal import Decimal

from quantops_trading.execution.errors import OrderNotFound
from quantops_trading.execution.types import (
    Fill,
    Gate,
    MarketRules,
    OrderBook,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    VenueOrder,
)

__all__ = ["PaperBroker", "choose_route"]

BookSource = Callable[[str], Awaitable[OrderBook]]


def choose_route(gate: Gate | str, *, live_available: bool, reduce_only: bool) -> str:
    """``"live"``, ``"paper"`` or ``"deny:<reason>"`` for an order under ``gate``.

    STOP denies; PAUSE allows only reduce-only (live, never paper); CHECK goes to paper; GO goes live,
    or to paper when the venue is unavailable (GO is demoted to CHECK, never sent blind).
    """
    g = Gate(gate)
    if g is Gate.STOP:
        return "deny:gate STOP"
    if g is Gate.PAUSE:
        if not reduce_only:
            return "deny:gate PAUSE allows only reduce-only orders"
        return "live" if live_available else "deny:venue unavailable"
    if g is Gate.CHECK or not live_available:
        return "paper"
    return "live"


class PaperBroker:
    """Simulated fills on books from ``book_source`` (e.g. the live venue's public data)."""

    def __init__(
        self,
        venue: str,
        book_source: BookSource,
        markets: dict[str, MarketRules],
        *,
        taker_fee: Decimal = Decimal("0.001"),
        maker_fee: Decimal = Decimal("0.001"),
        now_ms: Callable[[], int] = lambda: 0,
    ) -> None:
        self.venue = venue
        self._books = book_source
        self._markets = markets
        self._taker, self._maker = taker_fee, maker_fee
        self._now = now_ms
        self._ids = itertools.count(1)
        self.orders: dict[str, VenueOrder] = {}  # by client id
        self._intents: dict[str, OrderIntent] = {}
        self.fills: list[Fill] = []

    async def load_markets(self) -> dict[str, MarketRules]:
        return dict(self._markets)

    async def fetch_time(self) -> int:
        return self._now()

    async def fetch_last_price(self, symbol: str) -> Decimal:
        b = await self._books(symbol)
        return (b.bids[0][0] + b.asks[0][0]) / 2

    async def fetch_order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        return await self._books(symbol)

    async def fetch_balance(self) -> dict[str, Decimal]:
        return {}

    def _fill(self, cid: str, price: Decimal, qty: Decimal, maker: bool) -> None:
        o = self.orders[cid]
        fee = qty * price * (self._maker if maker else self._taker)
        self.fills.append(
            Fill(
                venue=self.venue,
                symbol=o.symbol,
                trade_id=str(next(self._ids)),
                venue_order_id=o.venue_order_id,
                side=o.side,
                price=price,
                quantity=qty,
                fee=fee,
                fee_currency=self._markets[o.symbol].quote,
                is_maker=maker,
                timestamp_ms=self._now(),
            )
        )
        filled = o.filled + qty
        cost = (o.average or Decimal(0)) * o.filled + price * qty
        self.orders[cid] = o.model_copy(
            update={
                "filled": filled,
                "average": cost / filled,
                "status": OrderStatus.CLOSED if filled == o.quantity else o.status,
            }
        )

    def _match(self, cid: str, book: OrderBook, maker: bool) -> None:
        intent = self._intents[cid]
        levels = book.asks if intent.side is Side.BUY else book.bids
        for px, qty in levels:
            o = self.orders[cid]
            left = o.quantity - o.filled
            if left <= 0:
                break
            if intent.type is OrderType.LIMIT and intent.price is not None:
                through = px <= intent.price if intent.side is Side.BUY else px >= intent.price
                if not through:
                    break
                fill_px = intent.price if maker else px
            else:
                fill_px = px
            self._fill(cid, fill_px, min(left, qty), maker)

    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder:
        if client_order_id in self.orders:
            return self.orders[client_order_id]  # idempotent, like the venue's duplicate check
        book = await self._books(intent.symbol)
        self._intents[client_order_id] = intent
        self.orders[client_order_id] = VenueOrder(
            venue=self.venue, symbol=intent.symbol, venue_order_id=f"paper-{next(self._ids)}",
            client_order_id=client_order_id, side=intent.side, type=intent.type, price=intent.price,
            quantity=intent.quantity, filled=Decimal(0), average=None, status=OrderStatus.OPEN,
            timestamp_ms=self._now(),
        )  # fmt: skip
        self._match(client_order_id, book, maker=False)
        o = self.orders[client_order_id]
        if intent.type is OrderType.MARKET and o.status is OrderStatus.OPEN:
            self.orders[client_order_id] = o.model_copy(update={"status": OrderStatus.EXPIRED})
        return self.orders[client_order_id]

    async def poll(self, symbol: str) -> None:
        """Fill resting paper orders that the current book trades through (as maker)."""
        book = await self._books(symbol)
        for cid, o in list(self.orders.items()):
            if o.symbol == symbol and o.status is OrderStatus.OPEN:
                self._match(cid, book, maker=True)

    def take_fills(self) -> list[Fill]:
        """The fills not taken yet, removed from the broker: for a caller that books every fill
        itself (and never asks ``fetch_my_trades``), so a long run does not keep them all."""
        taken, self.fills = self.fills, []
        return taken

    def forget(self, client_order_id: str) -> None:
        """Drop a final order whose fills the caller has taken (``poll`` then never scans it again)."""
        o = self.orders.get(client_order_id)
        if o is not None and o.status is not OrderStatus.OPEN:
            del self.orders[client_order_id]
            self._intents.pop(client_order_id, None)

    def _get(self, venue_order_id: str | None, client_order_id: str | None) -> VenueOrder:
        for cid, o in self.orders.items():
            if cid == client_order_id or o.venue_order_id == venue_order_id:
                return o
        raise OrderNotFound(f"paper: unknown order {venue_order_id or client_order_id}", venue=self.venue)

    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        o = self._get(venue_order_id, client_order_id)
        if o.status is not OrderStatus.OPEN:
            raise OrderNotFound(f"paper: order {o.client_order_id} is {o.status}", venue=self.venue)
        self.orders[o.client_order_id] = o.model_copy(update={"status": OrderStatus.CANCELED})
        return self.orders[o.client_order_id]

    async def cancel_all_orders(self, symbol: str) -> list[VenueOrder]:
        return [
            await self.cancel_order(symbol, client_order_id=o.client_order_id)
            for o in await self.fetch_open_orders(symbol)
        ]

    async def fetch_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        return self._get(venue_order_id, client_order_id)

    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]:
        return [o for o in self.orders.values() if o.symbol == symbol and o.status is OrderStatus.OPEN]

    async def fetch_closed_orders(self, symbol: str) -> list[VenueOrder]:
        return [o for o in self.orders.values() if o.symbol == symbol and o.status is OrderStatus.CLOSED]

    async def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[Fill]:
        return [
            f for f in self.fills if f.symbol == symbol and (since_ms is None or f.timestamp_ms >= since_ms)
        ]

    async def close(self) -> None:
        return None
