"""Trade outcome validation (roadmap 77): every fill is checked against its intent before accounting.

Why it exists: a fill on the wrong side, above the limit, larger than asked, or with an absurd fee
is a venue or mapping bug, and booking it silently corrupts positions and PnL. :class:`FillGate`
admits fills that match the intent and *quarantines* the others with the reasons, so accounting
only ever sees validated fills and a human sees the rest. Pure; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from quantops_trading.execution.types import Fill, OrderIntent, OrderType, Side

__all__ = ["FillGate", "FillVerdict", "validate_fill"]


@dataclass(frozen=True)
class FillVerdict:
    fill: Fill
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.reasons


def validate_fill(
    intent: OrderIntent,
    fill: Fill,
    *,
    already_filled: Decimal = Decimal(0),
    reference_price: Decimal | None = None,
    price_tolerance_bps: Decimal = Decimal(50),
    max_fee_rate: Decimal = Decimal("0.005"),
    fee_allowance: Decimal = Decimal(0),
) -> FillVerdict:
    """Reasons ``fill`` does not belong to ``intent`` (empty when it does).

    ``fee_allowance``: what a venue's rounding may add to a fee (it rounds up to the fee asset's
    precision: a small partial fill pays a whole step), in the fee's own units."""
    reasons: list[str] = []
    if fill.symbol != intent.symbol:
        reasons.append(f"symbol {fill.symbol} != intent {intent.symbol}")
    if fill.side is not intent.side:
        reasons.append(f"side {fill.side} != intent {intent.side}")
    if fill.quantity <= 0:
        reasons.append(f"non-positive quantity {fill.quantity}")
    if already_filled + fill.quantity > intent.quantity:
        reasons.append(f"overfill: {already_filled} + {fill.quantity} > {intent.quantity}")
    tol = price_tolerance_bps / Decimal(10_000)
    limit = intent.price if intent.type is OrderType.LIMIT else reference_price
    if limit is not None:
        if intent.side is Side.BUY and fill.price > limit * (1 + tol):
            reasons.append(f"buy price {fill.price} above {limit} (+{price_tolerance_bps} bps)")
        if intent.side is Side.SELL and fill.price < limit * (1 - tol):
            reasons.append(f"sell price {fill.price} below {limit} (-{price_tolerance_bps} bps)")
    if fill.fee < 0:
        reasons.append(f"negative fee {fill.fee}")
    else:
        base = fill.quantity * fill.price if _is_quote(fill, intent) else fill.quantity
        if base > 0 and fill.fee > base * max_fee_rate + fee_allowance:
            reasons.append(f"fee {fill.fee} {fill.fee_currency} above {max_fee_rate:%} of {base}")
    return FillVerdict(fill, tuple(reasons))


def _is_quote(fill: Fill, intent: OrderIntent) -> bool:
    return intent.symbol.endswith("/" + fill.fee_currency)


@dataclass
class FillGate:
    """Admit validated fills; keep the rest in quarantine with their reasons."""

    accepted: list[Fill] = field(default_factory=list)
    quarantined: list[FillVerdict] = field(default_factory=list)
    _filled: dict[str, Decimal] = field(default_factory=dict)

    def admit(self, intent: OrderIntent, fill: Fill, **limits: Decimal) -> FillVerdict:
        done = self._filled.get(intent.intent_id, Decimal(0))
        verdict = validate_fill(intent, fill, already_filled=done, **limits)
        if verdict.ok:
            self._filled[intent.intent_id] = done + fill.quantity
            self.accepted.append(fill)
        else:
            self.quarantined.append(verdict)
        return verdict
