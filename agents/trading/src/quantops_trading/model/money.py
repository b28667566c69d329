"""Exact numeric types for prices, quantities and money.

Why it exists: a float cannot represent 0.1, and a rounding error on a quantity that reaches a
venue is a rejected order or, worse, a filled one of the wrong size. ``Price``, ``Quantity`` and
``Money`` are ``Decimal`` at runtime; at pydantic boundaries they accept ``Decimal``, ``int`` or a
numeric *string* and refuse ``float`` outright, so a float can never leak into an order.

What it must not do: decide venue rounding. Snapping to tick size / lot step lives on
:class:`quantops_trading.model.instruments.Instrument` because it is venue data.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

__all__ = ["Money", "NonNegativeDecimal", "Price", "Quantity", "to_decimal"]


def to_decimal(value: Any, *, what: str = "value") -> Decimal:
    """Convert ``Decimal | int | str`` to a finite Decimal; floats and bools are refused.

    Raises ``TypeError`` for a float (use ``str(x)`` or ``Decimal(repr(x))`` deliberately at a data
    boundary) and ``ValueError`` for NaN/inf or unparsable text.
    """
    if isinstance(value, (bool, float)):
        raise TypeError(
            f"{what} must be Decimal, int or a numeric string, not {type(value).__name__} ({value!r}); "
            "floats never reach an order"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as e:
            raise ValueError(f"{what} {value!r} is not a decimal number") from e
    else:
        raise TypeError(f"{what} must be Decimal, int or a numeric string, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{what} must be finite, got {value!r}")
    return result


def _validator(what: str, *, non_negative: bool) -> BeforeValidator:
    def check(value: Any) -> Decimal:
        try:
            result = to_decimal(value, what=what)
        except TypeError as e:  # pydantic only turns ValueError into a ValidationError
            raise ValueError(str(e)) from e
        if non_negative and result < 0:
            raise ValueError(f"{what} must be >= 0, got {result}")
        return result

    return BeforeValidator(check)


_as_str = PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json")

Price = Annotated[Decimal, _validator("price", non_negative=True), _as_str]
"""A non-negative exact price in quote currency (serialised as a string in JSON)."""

Quantity = Annotated[Decimal, _validator("quantity", non_negative=True), _as_str]
"""A non-negative exact quantity in base units (serialised as a string in JSON)."""

NonNegativeDecimal = Annotated[Decimal, _validator("amount", non_negative=True), _as_str]
"""A non-negative exact amount (fees, limits)."""

Money = Annotated[Decimal, _validator("money", non_negative=False), _as_str]
"""A signed exact amount of some currency (PnL, balances deltas)."""
