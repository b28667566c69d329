"""Pre-trade checks: local order validation, library-side reduce-only, and book sanity (roadmap 72).

Why it exists: malformed orders, unknown symbols and precision violations must fail with a clear
message *before* anything is sent — a venue reject costs a round trip, rate-limit weight and
health score. Spot venues have no reduce-only flag, so "reduce-only" is enforced here against the
held position. And an order priced off a broken book (crossed or locked top, a feed that stopped
updating, a book too thin for the size) is the most common way to lose money to data problems —
the real data here has crossed quotes and clock skew on purpose. Pure functions; time is passed in.
Validation raises :class:`InvalidOrder` / :class:`BadSymbol`; the book verdict is a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from quantops_trading.execution.errors import BadSymbol, InvalidOrder
from quantops_trading.execution.types import MarketRules, OrderBook, OrderIntent, OrderType, Side

__all__ = [
    "BookVerdict",
    "check_book",
    "check_depth",
    "check_intent",
    "check_quotes",
    "check_reduce_only",
]


def check_intent(
    intent: OrderIntent, markets: dict[str, MarketRules], reference_price: Decimal | None = None
) -> None:
    """Raise if ``intent`` cannot be a valid order on a venue with ``markets``."""
    rules = markets.get(intent.symbol)
    if rules is None:
        raise BadSymbol(f"unknown symbol {intent.symbol!r}; venue lists {sorted(markets)[:10]}")
    q = intent.quantity
    if q % rules.step_size != 0:
        raise InvalidOrder(f"quantity {q} is not a multiple of step size {rules.step_size} ({intent.symbol})")
    if q < rules.min_qty:
        raise InvalidOrder(f"quantity {q} is below the minimum {rules.min_qty} ({intent.symbol})")
    if intent.type is OrderType.LIMIT:
        if intent.price is None or intent.price <= 0:
            raise InvalidOrder(f"a limit order needs a positive price, got {intent.price}")
        if intent.price % rules.tick_size != 0:
            raise InvalidOrder(
                f"price {intent.price} is not a multiple of tick size {rules.tick_size} ({intent.symbol})"
            )
    elif intent.price is not None:
        raise InvalidOrder("a market order must not carry a price")
    if intent.time_in_force not in ("GTC", "IOC", "FOK"):
        raise InvalidOrder(f"unknown time in force {intent.time_in_force!r}")
    ref = intent.price if intent.price is not None else reference_price
    if ref is not None and q * ref < rules.min_notional:
        raise InvalidOrder(f"notional {q * ref} is below the minimum {rules.min_notional} ({intent.symbol})")


def check_reduce_only(intent: OrderIntent, position: Decimal) -> None:
    """A reduce-only order must move ``position`` (signed base units) toward zero, not past it."""
    if not intent.reduce_only:
        return
    if position == 0:
        raise InvalidOrder("reduce-only order with no position to reduce")
    reduces = (position > 0 and intent.side is Side.SELL) or (position < 0 and intent.side is Side.BUY)
    if not reduces:
        raise InvalidOrder(f"reduce-only {intent.side} would increase a position of {position}")
    if intent.quantity > abs(position):
        raise InvalidOrder(f"reduce-only quantity {intent.quantity} exceeds the position {abs(position)}")


@dataclass(frozen=True)
class BookVerdict:
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_quotes(book: OrderBook) -> tuple[str, ...]:
    """What makes a book unusable for pricing anything at all: an empty side, a price or size that
    is not a positive finite number, a crossed or locked top. (A glitch price near zero would size
    a huge order whose exposure, priced at that same price, passes every limit.)"""
    if not book.bids or not book.asks:
        return ("empty side",)
    problems = [
        f"{side} level {i + 1}: price {p} size {q}"
        for side, levels in (("bid", book.bids), ("ask", book.asks))
        for i, (p, q) in enumerate(levels)
        if not (p.is_finite() and q.is_finite() and p > 0 and q > 0)
    ]
    if problems:
        return tuple(problems[:3])
    bid, ask = book.bids[0][0], book.asks[0][0]
    if bid > ask:
        return (f"crossed: bid {bid} > ask {ask}",)
    if bid == ask:
        return (f"locked: bid == ask == {bid}",)
    return ()


def check_depth(
    book: OrderBook, side: Side, quantity: Decimal, min_depth_ratio: Decimal = Decimal(1)
) -> str | None:
    """Too thin: the side ``side`` × ``quantity`` would trade against holds less than
    ``min_depth_ratio`` × ``quantity`` in the whole book (the order would walk it empty)."""
    opposite = book.asks if side is Side.BUY else book.bids
    depth = sum((q for _, q in opposite), Decimal(0))
    if depth < quantity * min_depth_ratio:
        return f"too thin: {depth} available for {quantity} × {min_depth_ratio}"
    return None


def check_book(
    book: OrderBook,
    *,
    now_ms: int,
    side: Side,
    quantity: Decimal,
    max_age_ms: int = 5_000,
    min_depth_ratio: Decimal = Decimal(1),
) -> BookVerdict:
    """Problems that forbid sending ``side`` × ``quantity`` against ``book`` at ``now_ms`` (a
    clock shared with the venue's): :func:`check_quotes`, :func:`check_depth` and the book's age."""
    problems = list(check_quotes(book))
    thin = check_depth(book, side, quantity, min_depth_ratio) if book.bids and book.asks else None
    if thin is not None:
        problems.append(thin)
    if book.timestamp_ms is None:
        problems.append("stale: book has no timestamp")
    elif now_ms - book.timestamp_ms > max_age_ms:
        problems.append(f"stale: book is {now_ms - book.timestamp_ms} ms old (max {max_age_ms})")
    return BookVerdict(tuple(problems))
