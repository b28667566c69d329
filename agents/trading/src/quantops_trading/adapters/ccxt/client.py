"""The ``ExecutionClient`` over ccxt's async client: unified calls in, library types out.

Why it exists: the connector (breaker, retries, idempotency) must not know ccxt. This adapter turns
ccxt's float-valued dicts into Decimal-valued frozen models (numbers go through ``str`` so the
printed value is kept exactly, and outbound amounts are sent as decimal strings), and wraps every
call in :func:`translating`, so only library errors leave it. It does no retries and no checks
beyond what ccxt itself does — policy lives in ``execution/``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from quantops_trading.adapters.ccxt.errors import translating
from quantops_trading.execution.types import (
    Fill,
    MarketRules,
    OrderBook,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    VenueOrder,
)

__all__ = ["CcxtExecutionClient"]


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def _req(value: Any) -> Decimal:
    d = _dec(value)
    return d if d is not None else Decimal(0)


class CcxtExecutionClient:
    """One ccxt exchange instance behind the :class:`ExecutionClient` port."""

    def __init__(self, exchange: Any, venue: str) -> None:
        self.exchange = exchange
        self.venue = venue

    def _guard(self) -> Any:
        return translating(self.venue, lambda: getattr(self.exchange, "last_response_headers", None))

    def _order(self, o: dict[str, Any]) -> VenueOrder:
        status = o.get("status") or "open"
        return VenueOrder(
            venue=self.venue,
            symbol=o["symbol"],
            venue_order_id=str(o["id"]),
            client_order_id=str(o.get("clientOrderId") or ""),
            side=Side(o["side"]),
            type=OrderType(o["type"]) if o.get("type") in ("limit", "market") else OrderType.LIMIT,
            price=_dec(o.get("price")) or None,
            quantity=_req(o.get("amount")),
            filled=_req(o.get("filled")),
            average=_dec(o.get("average")),
            status=OrderStatus(status),
            timestamp_ms=int(o.get("timestamp") or o.get("lastTradeTimestamp") or 0),
        )

    def _fill(self, t: dict[str, Any]) -> Fill:
        fee = t.get("fee") or {}
        return Fill(
            venue=self.venue,
            symbol=t["symbol"],
            trade_id=str(t["id"]),
            venue_order_id=str(t["order"]),
            side=Side(t["side"]),
            price=_req(t.get("price")),
            quantity=_req(t.get("amount")),
            fee=_req(fee.get("cost")),
            fee_currency=str(fee.get("currency") or ""),
            is_maker=t.get("takerOrMaker") == "maker",
            timestamp_ms=int(t.get("timestamp") or 0),
        )

    async def load_markets(self) -> dict[str, MarketRules]:
        async with self._guard():
            markets = await self.exchange.load_markets()
        return {
            s: MarketRules(
                symbol=s,
                base=m["base"],
                quote=m["quote"],
                tick_size=_req(m["precision"]["price"]),
                step_size=_req(m["precision"]["amount"]),
                min_qty=_req(m["limits"]["amount"]["min"]),
                min_notional=_req(m["limits"]["cost"]["min"]),
            )
            for s, m in markets.items()
            if m.get("spot")
        }

    async def fetch_time(self) -> int:
        async with self._guard():
            return int(await self.exchange.fetch_time())

    async def fetch_last_price(self, symbol: str) -> Decimal:
        async with self._guard():
            t = await self.exchange.fetch_ticker(symbol)
        return _req(t.get("last") or t.get("close"))

    async def fetch_order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        async with self._guard():
            ob = await self.exchange.fetch_order_book(symbol, limit)
        return OrderBook(
            symbol=symbol,
            bids=tuple((_req(p), _req(q)) for p, q, *_ in ob["bids"]),
            asks=tuple((_req(p), _req(q)) for p, q, *_ in ob["asks"]),
            timestamp_ms=ob.get("timestamp"),
            nonce=ob.get("nonce"),
        )

    async def fetch_balance(self) -> dict[str, Decimal]:
        async with self._guard():
            b = await self.exchange.fetch_balance()
        return {k: _req(v) for k, v in b["free"].items()}

    async def fetch_holdings(self) -> dict[str, Decimal]:
        """Every asset's total (free + locked in open orders): what reconciliation compares."""
        async with self._guard():
            b = await self.exchange.fetch_balance()
        return {k: _req(v) for k, v in b["total"].items()}

    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder:
        price = str(intent.price) if intent.price is not None else None
        params = {"newClientOrderId": client_order_id}
        if intent.type is OrderType.LIMIT:
            params["timeInForce"] = intent.time_in_force
        async with self._guard():
            o = await self.exchange.create_order(
                intent.symbol, intent.type.value, intent.side.value, str(intent.quantity), price, params
            )
        return self._order(o)

    @staticmethod
    def _id_params(venue_order_id: str | None, client_order_id: str | None) -> tuple[str, dict[str, str]]:
        if venue_order_id is not None:
            return venue_order_id, {}
        if client_order_id is None:
            raise ValueError("venue_order_id or client_order_id is required")
        return "", {"origClientOrderId": client_order_id}

    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        oid, params = self._id_params(venue_order_id, client_order_id)
        async with self._guard():
            return self._order(await self.exchange.cancel_order(oid, symbol, params))

    async def cancel_all_orders(self, symbol: str) -> list[VenueOrder]:
        async with self._guard():
            return [self._order(o) for o in await self.exchange.cancel_all_orders(symbol)]

    async def fetch_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        oid, params = self._id_params(venue_order_id, client_order_id)
        async with self._guard():
            return self._order(await self.exchange.fetch_order(oid, symbol, params))

    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]:
        async with self._guard():
            return [self._order(o) for o in await self.exchange.fetch_open_orders(symbol)]

    async def fetch_closed_orders(self, symbol: str) -> list[VenueOrder]:
        async with self._guard():
            return [self._order(o) for o in await self.exchange.fetch_closed_orders(symbol)]

    async def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[Fill]:
        async with self._guard():
            return [self._fill(t) for t in await self.exchange.fetch_my_trades(symbol, since_ms)]

    async def fetch_trade_history(self, symbol: str, page: int = 1000) -> list[Fill]:
        """Every trade of the account on ``symbol``, oldest first (paged by trade id): without a
        ``fromId`` Binance answers only the most recent ones."""
        out: list[Fill] = []
        next_id = 0
        while True:
            async with self._guard():
                raw = await self.exchange.fetch_my_trades(symbol, None, page, {"fromId": next_id})
            out += [self._fill(t) for t in raw]
            if len(raw) < page:
                return out
            next_id = int(raw[-1]["id"]) + 1

    async def resync_clock(self) -> None:
        """Measure the venue clock and let ccxt sign with the corrected time (after ClockSkew)."""
        async with self._guard():
            await self.exchange.load_time_difference()

    async def close(self) -> None:
        await self.exchange.close()
