"""Execution-facing types: intents, orders, fills, books, market rules, gate, and the client port.

Why it exists: the execution layer needs a small vocabulary that is independent of ccxt (whose
numbers are floats) and of the domain model being built elsewhere. Everything that reaches or
comes back from a venue is a frozen pydantic model with ``Decimal`` prices and quantities; the
:class:`ExecutionClient` protocol is the port both the ccxt adapter and the paper broker implement.
Must not import ccxt or any adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from quantops_trading.model.ids import ClientOrderId, InstrumentId
from quantops_trading.model.orders import Fill as ModelFill
from quantops_trading.model.orders import LiquiditySide, OrderSide

__all__ = [
    "ExecutionClient",
    "Fill",
    "Gate",
    "MarketRules",
    "OrderBook",
    "OrderIntent",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Side",
    "VenueOrder",
    "is_dust",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class OrderStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # fully filled
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"


class Gate(StrEnum):
    """Most restrictive first: STOP > PAUSE > CHECK > GO (see ARCHITECTURE, gates)."""

    STOP = "STOP"
    PAUSE = "PAUSE"
    CHECK = "CHECK"
    GO = "GO"


class OrderIntent(_Frozen):
    """What a strategy wants; the client order id is derived from (strategy, intent, attempt)."""

    strategy_id: str = Field(min_length=1, max_length=64)
    intent_id: str = Field(min_length=1, max_length=128)
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal = Field(gt=0)
    price: Decimal | None = None
    reduce_only: bool = False
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    time_in_force: str = "GTC"


class MarketRules(_Frozen):
    """Precision and limits of one market, as loaded from the venue."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal

    def dust(self, qty: Decimal) -> bool:
        """A quantity this market cannot trade (e.g. a buy's fee in base left after a sell)."""
        return is_dust(qty, self.min_qty, self.step_size)


def is_dust(qty: Decimal, min_qty: Decimal, step_size: Decimal) -> bool:
    """Below the smallest order the venue takes: under its minimum quantity or one lot step."""
    return abs(qty) < max(min_qty, step_size)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An intent plus the facts risk judges it by (reference price, expected edge and slippage,
    regime). ``reference_price`` prices market orders; ``unwind`` is set only by the unwind ladder
    through the gateway's private path."""

    intent: OrderIntent
    reference_price: Decimal
    expected_edge_bps: float | None = None
    expected_slippage_bps: float = 0.0
    regime: str | None = None
    unwind: bool = False

    @property
    def strategy(self) -> str:
        return self.intent.strategy_id

    @property
    def pair(self) -> str:
        return self.intent.symbol

    @property
    def signed_qty(self) -> Decimal:
        return self.intent.quantity if self.intent.side is Side.BUY else -self.intent.quantity

    @property
    def price(self) -> Decimal:
        return self.intent.price if self.intent.price is not None else self.reference_price

    @property
    def notional(self) -> Decimal:
        return self.intent.quantity * self.price

    @property
    def is_taker(self) -> bool:
        """Market, IOC/FOK, or a limit priced through the reference (mid): it takes liquidity."""
        i = self.intent
        if i.type is OrderType.MARKET or i.time_in_force in ("IOC", "FOK"):
            return True
        if i.price is None:
            return False
        return i.price > self.reference_price if i.side is Side.BUY else i.price < self.reference_price


class VenueOrder(_Frozen):
    """An order as the venue reports it."""

    venue: str
    symbol: str
    venue_order_id: str
    client_order_id: str
    side: Side
    type: OrderType
    price: Decimal | None
    quantity: Decimal
    filled: Decimal
    average: Decimal | None
    status: OrderStatus
    timestamp_ms: int


class Fill(_Frozen):
    """One execution of one order (``trade_id`` is unique per venue and symbol)."""

    venue: str
    symbol: str
    trade_id: str
    venue_order_id: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_currency: str
    is_maker: bool
    timestamp_ms: int

    def to_model(self, client_order_id: str, venue: str) -> ModelFill:
        """The domain model's fill (what event logs and strategies take) of this venue fill."""
        return ModelFill(
            client_order_id=ClientOrderId(client_order_id),
            trade_id=self.trade_id,
            instrument_id=InstrumentId(f"{self.symbol}@{venue}"),
            side=OrderSide(self.side.value),
            price=self.price,
            quantity=self.quantity,
            fee=self.fee,
            fee_currency=self.fee_currency or None,
            liquidity=LiquiditySide.MAKER if self.is_maker else LiquiditySide.TAKER,
            ts_ns=self.timestamp_ms * 1_000_000,
        )


class OrderBook(_Frozen):
    """An L2 book: levels best first; ``timestamp_ms`` is the venue's, ``None`` if not given."""

    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    timestamp_ms: int | None
    nonce: int | None = None


@runtime_checkable
class ExecutionClient(Protocol):
    """The port every venue adapter implements (ccxt adapter, paper broker)."""

    venue: str

    async def load_markets(self) -> dict[str, MarketRules]: ...
    async def fetch_time(self) -> int: ...
    async def fetch_last_price(self, symbol: str) -> Decimal: ...
    async def fetch_order_book(self, symbol: str, limit: int = 20) -> OrderBook: ...
    async def fetch_balance(self) -> dict[str, Decimal]: ...
    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder: ...
    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder: ...
    async def cancel_all_orders(self, symbol: str) -> list[VenueOrder]: ...
    async def fetch_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder: ...
    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]: ...
    async def fetch_closed_orders(self, symbol: str) -> list[VenueOrder]: ...
    async def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[Fill]: ...
    async def close(self) -> None: ...
