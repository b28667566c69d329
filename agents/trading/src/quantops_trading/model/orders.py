"""Orders, fills, positions and balances: the state a trading node reasons about.

Why it exists: risk, execution, backtest and the event log must agree on what an order *is*.
These frozen pydantic models are that agreement; all amounts are exact Decimals (see
``model/money.py``) so nothing that reaches a venue is ever a float.

What it must not do: hold behaviour that needs I/O or gates. Position arithmetic (``apply_fill``)
is pure; gates and risk checks live in their own packages.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quantops_trading.model.ids import ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from quantops_trading.model.money import Money, NonNegativeDecimal, Price, Quantity

__all__ = [
    "Balance",
    "Fill",
    "LiquiditySide",
    "Order",
    "OrderSide",
    "OrderType",
    "Position",
    "TimeInForce",
]


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "PO"


class LiquiditySide(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Order(_Frozen):
    """An order request as the strategy/risk layer builds it (before any venue acknowledges it)."""

    client_order_id: ClientOrderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    side: OrderSide
    type: OrderType
    quantity: Quantity
    price: Price | None = None
    stop_price: Price | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False

    @model_validator(mode="after")
    def _check(self) -> Order:
        if self.quantity <= 0:
            raise ValueError(f"order {self.client_order_id}: quantity must be > 0, got {self.quantity}")
        needs_price = self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        if needs_price and self.price is None:
            raise ValueError(f"order {self.client_order_id}: {self.type} order needs a price")
        if self.type is OrderType.MARKET and self.price is not None:
            raise ValueError(f"order {self.client_order_id}: market order must not carry a price")
        if self.type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT) and self.stop_price is None:
            raise ValueError(f"order {self.client_order_id}: {self.type} order needs a stop_price")
        if self.time_in_force is TimeInForce.POST_ONLY and self.type is not OrderType.LIMIT:
            raise ValueError(f"order {self.client_order_id}: post-only needs a limit order")
        return self


class Fill(_Frozen):
    """One execution (possibly partial) of an order."""

    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId | None = None
    trade_id: str | None = None
    instrument_id: InstrumentId
    side: OrderSide
    price: Price
    quantity: Quantity
    fee: NonNegativeDecimal = Decimal(0)
    fee_currency: str | None = None
    liquidity: LiquiditySide | None = None
    ts_ns: int = Field(ge=0, description="Venue execution time, ns since epoch (UTC).")

    @model_validator(mode="after")
    def _check(self) -> Fill:
        if self.quantity <= 0 or self.price <= 0:
            raise ValueError(f"fill of {self.client_order_id}: price and quantity must be > 0")
        return self


class Position(_Frozen):
    """A net position: signed quantity (long > 0), average entry price and realised PnL."""

    instrument_id: InstrumentId
    strategy_id: StrategyId
    quantity: Money = Decimal(0)
    avg_price: Price = Decimal(0)
    realized_pnl: Money = Decimal(0)
    fees: NonNegativeDecimal = Decimal(0)

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    def apply_fill(self, fill: Fill) -> Position:
        """A new position after ``fill`` (average-cost accounting; flips realise the closed part)."""
        if fill.instrument_id != self.instrument_id:
            raise ValueError(f"fill for {fill.instrument_id} applied to position in {self.instrument_id}")
        signed = fill.quantity * fill.side.sign
        qty, avg, realized = self.quantity, self.avg_price, self.realized_pnl
        if qty == 0 or (qty > 0) == (signed > 0):
            new_qty = qty + signed
            avg = (abs(qty) * avg + fill.quantity * fill.price) / abs(new_qty)
        else:
            closed = min(abs(qty), abs(signed))
            direction = 1 if qty > 0 else -1
            realized += closed * (fill.price - avg) * direction
            new_qty = qty + signed
            if new_qty == 0:
                avg = Decimal(0)
            elif (new_qty > 0) != (qty > 0):
                avg = fill.price
        return self.model_copy(
            update={
                "quantity": new_qty,
                "avg_price": avg,
                "realized_pnl": realized,
                "fees": self.fees + fill.fee,
            }
        )


class Balance(_Frozen):
    """Free and locked amounts of one currency on one venue."""

    currency: str = Field(pattern=r"^[A-Z0-9]{1,16}$")
    free: NonNegativeDecimal
    locked: NonNegativeDecimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.free + self.locked
