"""Instruments and their venue precision and limits.

Why it exists: every venue rejects orders whose price is off the tick grid, whose quantity is off
the lot step, or that are below a minimum quantity / notional. Carrying those limits as data on an
``Instrument`` lets pre-trade code snap and check orders the same way in backtest, paper and live.

What it must not do: talk to a venue. Instruments are loaded by adapters (or the cache) and are
immutable values here.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quantops_trading.model.ids import InstrumentId
from quantops_trading.model.money import NonNegativeDecimal, Price, Quantity

__all__ = ["Instrument", "InstrumentKind"]


class InstrumentKind(StrEnum):
    SPOT = "spot"
    PERPETUAL = "perpetual"
    FUTURE = "future"


class Instrument(BaseModel):
    """A tradable market with its venue precision (tick, lot step) and limits (min qty, min notional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: InstrumentId
    kind: InstrumentKind = InstrumentKind.SPOT
    tick_size: Price = Field(description="Smallest price increment.")
    lot_step: Quantity = Field(description="Smallest quantity increment.")
    min_qty: Quantity = Decimal(0)
    max_qty: Quantity | None = None
    min_notional: NonNegativeDecimal = Decimal(0)
    contract_size: Quantity = Decimal(1)
    maker_fee: NonNegativeDecimal = Decimal(0)
    taker_fee: NonNegativeDecimal = Decimal(0)

    @model_validator(mode="after")
    def _check(self) -> Instrument:
        if self.tick_size <= 0:
            raise ValueError(f"{self.id}: tick_size must be > 0, got {self.tick_size}")
        if self.lot_step <= 0:
            raise ValueError(f"{self.id}: lot_step must be > 0, got {self.lot_step}")
        if self.max_qty is not None and self.max_qty < self.min_qty:
            raise ValueError(f"{self.id}: max_qty {self.max_qty} < min_qty {self.min_qty}")
        if (self.kind is InstrumentKind.SPOT) == self.id.is_derivative:
            raise ValueError(f"{self.id}: kind {self.kind} does not match the id (settle currency)")
        return self

    def round_price(self, price: Decimal, *, side_aware: str | None = None) -> Decimal:
        """Snap to the tick grid: ``buy`` rounds down, ``sell`` rounds up, None rounds half-even."""
        mode = {"buy": ROUND_DOWN, "sell": ROUND_UP}.get(side_aware or "", ROUND_HALF_EVEN)
        steps = (price / self.tick_size).to_integral_value(rounding=mode)
        return (steps * self.tick_size).quantize(self.tick_size)

    def round_qty(self, qty: Decimal) -> Decimal:
        """Snap *down* to the lot step (never trade more than asked)."""
        steps = (qty / self.lot_step).to_integral_value(rounding=ROUND_DOWN)
        return (steps * self.lot_step).quantize(self.lot_step)

    def violations(self, price: Decimal | None, qty: Decimal) -> list[str]:
        """Every venue-limit violation of an order (empty list = acceptable). Never raises."""
        problems: list[str] = []
        if qty <= 0:
            problems.append(f"quantity {qty} must be > 0")
        if qty % self.lot_step != 0:
            problems.append(f"quantity {qty} is not a multiple of lot step {self.lot_step}")
        if qty < self.min_qty:
            problems.append(f"quantity {qty} below min qty {self.min_qty}")
        if self.max_qty is not None and qty > self.max_qty:
            problems.append(f"quantity {qty} above max qty {self.max_qty}")
        if price is not None:
            if price <= 0:
                problems.append(f"price {price} must be > 0")
            elif price % self.tick_size != 0:
                problems.append(f"price {price} is not a multiple of tick size {self.tick_size}")
            notional = price * qty * self.contract_size
            if notional < self.min_notional:
                problems.append(f"notional {notional} below min notional {self.min_notional}")
        return problems

    def notional(self, price: Decimal, qty: Decimal) -> Decimal:
        return price * qty * self.contract_size
