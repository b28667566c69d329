"""Shared helpers for risk tests: a recording fake ExecutionClient, a fake clock, request builders."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
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
from quantops_trading.risk import OrderRequest, RiskGateway

VENUE = "sim"


@dataclass
class FakeClock:
    t: float = 1_000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class RecordingClient:
    """The one seam the gateway talks to; records every create/cancel (``on_create`` may assert)."""

    venue: str = VENUE
    created: list[tuple[OrderIntent, str]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    latency: float = 0.0
    on_create: Callable[[OrderIntent], None] | None = None

    def _order(self, intent: OrderIntent, coid: str, status: OrderStatus) -> VenueOrder:
        return VenueOrder(
            venue=self.venue,
            symbol=intent.symbol,
            venue_order_id=str(len(self.created)),
            client_order_id=coid,
            side=intent.side,
            type=intent.type,
            price=intent.price,
            quantity=intent.quantity,
            filled=Decimal(0),
            average=None,
            status=status,
            timestamp_ms=0,
        )

    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder:
        if self.on_create is not None:
            self.on_create(intent)
        self.created.append((intent, client_order_id))
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._order(intent, client_order_id, OrderStatus.OPEN)

    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        self.cancelled.append(client_order_id or venue_order_id or "")
        intent = OrderIntent(
            strategy_id="x",
            intent_id="x",
            symbol=symbol,
            side=Side.BUY,
            type=OrderType.MARKET,
            quantity=Decimal(1),
        )
        return self._order(intent, client_order_id or "x", OrderStatus.CANCELED)

    async def load_markets(self) -> dict[str, MarketRules]:
        return {}

    async def fetch_time(self) -> int:
        return 0

    async def fetch_last_price(self, symbol: str) -> Decimal:
        return Decimal(1)

    async def fetch_order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        return OrderBook(symbol=symbol, bids=(), asks=(), timestamp_ms=None)

    async def fetch_balance(self) -> dict[str, Decimal]:
        return {}

    async def cancel_all_orders(self, symbol: str) -> list[VenueOrder]:
        return []

    async def fetch_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        raise NotImplementedError

    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]:
        return []

    async def fetch_closed_orders(self, symbol: str) -> list[VenueOrder]:
        return []

    async def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[Fill]:
        return []

    async def close(self) -> None:
        return None


_n = 0


def req(
    side: str = "buy",
    qty: str | Decimal = "1",
    *,
    strategy: str = "alpha",
    pair: str = "BTC/USDT",
    price: str | Decimal = "100",
    reduce_only: bool = False,
    edge: float | None = 100.0,
    market: bool = True,
    regime: str | None = None,
    **kw: Any,
) -> OrderRequest:
    global _n
    _n += 1
    intent = OrderIntent(
        strategy_id=strategy,
        intent_id=f"i{_n}",
        symbol=pair,
        side=Side(side),
        type=OrderType.MARKET if market else OrderType.LIMIT,
        quantity=Decimal(qty),
        price=None if market else Decimal(price),
        reduce_only=reduce_only,
    )
    return OrderRequest(intent, Decimal(price), expected_edge_bps=edge, regime=regime, **kw)


def fill(
    side: str, qty: str | Decimal, price: str | Decimal, *, pair: str = "BTC/USDT", fee: str = "0"
) -> Fill:
    global _n
    _n += 1
    return Fill(
        venue=VENUE,
        symbol=pair,
        trade_id=f"t{_n}",
        venue_order_id="v",
        side=Side(side),
        price=Decimal(price),
        quantity=Decimal(qty),
        fee=Decimal(fee),
        fee_currency="USDT",
        is_maker=False,
        timestamp_ms=0,
    )


def permissive(**overrides: Any) -> RiskPolicySpec:
    """A policy that lets ordinary test orders through; override one limit to test it."""
    base: dict[str, Any] = {
        "risk_budget": 1_000_000.0,
        "concentration_cap": 1.0,
        "max_trades_per_minute": 10_000,
        "max_orders_per_minute": 10_000,
        "max_cancel_to_fill_ratio": 1e9,
        "max_consecutive_losses": 1000,
        "max_drawdown": 0.99,
    }
    base.update(overrides)
    return RiskPolicySpec(**base)


def gateway(
    policy: RiskPolicySpec | None = None, **kw: Any
) -> tuple[RiskGateway, RecordingClient, FakeClock]:
    client = RecordingClient()
    clock = kw.pop("clock", None) or FakeClock()
    gw = RiskGateway(client, policy or permissive(), clock=clock, **kw)
    return gw, client, clock
