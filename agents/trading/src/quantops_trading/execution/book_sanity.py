"""Pre-trade order book sanity (roadmap 72): crossed, locked, stale or too-thin books block orders.

Why it exists: an order priced off a broken book (a crossed or locked top, a feed that stopped
updating, or a book too thin to absorb the order) is the most common way to lose money to data
problems — the real data here has crossed quotes and clock skew on purpose. The verdict is a
value listing every problem, so callers log and deny rather than catch. Pure; time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from quantops_trading.execution.types import OrderBook, Side

__all__ = ["BookVerdict", "check_book"]


@dataclass(frozen=True)
class BookVerdict:
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_book(
    book: OrderBook,
    *,
    now_ms: int,
    side: Side,
    quantity: Decimal,
    max_age_ms: int = 5_000,
    min_depth_ratio: Decimal = Decimal(1),
) -> BookVerdict:
    """Problems that forbid sending ``side`` × ``quantity`` against ``book`` at ``now_ms``.

    Depth: the opposite side's total size within the book must be at least
    ``min_depth_ratio`` × ``quantity``.
    """
    problems: list[str] = []
    if not book.bids or not book.asks:
        problems.append("empty side")
    else:
        bid, ask = book.bids[0][0], book.asks[0][0]
        if bid > ask:
            problems.append(f"crossed: bid {bid} > ask {ask}")
        elif bid == ask:
            problems.append(f"locked: bid == ask == {bid}")
        opposite = book.asks if side is Side.BUY else book.bids
        depth = sum((q for _, q in opposite), Decimal(0))
        if depth < quantity * min_depth_ratio:
            problems.append(f"too thin: {depth} available for {quantity} × {min_depth_ratio}")
    if book.timestamp_ms is None:
        problems.append("stale: book has no timestamp")
    elif now_ms - book.timestamp_ms > max_age_ms:
        problems.append(f"stale: book is {now_ms - book.timestamp_ms} ms old (max {max_age_ms})")
    return BookVerdict(tuple(problems))
