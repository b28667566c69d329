"""Order routing matrix by liquidity and fees (roadmap 70).

Why it exists: the same order costs different amounts on different venues — a deeper book means
less price impact, a lower fee less drag. For each venue the book is walked for the order's size to
get the VWAP, the taker fee is applied, and venues are ranked by the all-in price (lowest for a buy,
highest for a sell). Venues whose visible depth cannot fill the size rank after those that can.
:func:`routing_matrix` does this per symbol. Pure; books and fees are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from quantops_trading.execution.types import OrderBook, Side

__all__ = ["RouteChoice", "rank_venues", "routing_matrix"]


@dataclass(frozen=True)
class RouteChoice:
    venue: str
    fillable: Decimal
    vwap: Decimal | None
    all_in: Decimal | None  # VWAP after the taker fee
    complete: bool


def _walk(levels: tuple[tuple[Decimal, Decimal], ...], qty: Decimal) -> tuple[Decimal, Decimal | None]:
    left, cost = qty, Decimal(0)
    for px, q in levels:
        take = min(left, q)
        cost += take * px
        left -= take
        if left <= 0:
            break
    got = qty - left
    return got, (cost / got if got > 0 else None)


def rank_venues(
    side: Side, quantity: Decimal, books: dict[str, OrderBook], taker_fees: dict[str, Decimal]
) -> list[RouteChoice]:
    """Venues best first for ``side`` × ``quantity``."""
    out: list[RouteChoice] = []
    for venue, book in books.items():
        got, vwap = _walk(book.asks if side is Side.BUY else book.bids, quantity)
        fee = taker_fees.get(venue, Decimal(0))
        all_in = None if vwap is None else (vwap * (1 + fee) if side is Side.BUY else vwap * (1 - fee))
        out.append(RouteChoice(venue, got, vwap, all_in, got >= quantity))

    def key(c: RouteChoice) -> tuple[int, Decimal]:
        if c.all_in is None:
            return (2, Decimal(0))
        return (0 if c.complete else 1, c.all_in if side is Side.BUY else -c.all_in)

    return sorted(out, key=key)


def routing_matrix(
    side: Side,
    quantities: dict[str, Decimal],
    books: dict[str, dict[str, OrderBook]],
    taker_fees: dict[str, Decimal],
) -> dict[str, list[RouteChoice]]:
    """symbol → ranked venues; ``books`` is symbol → venue → book."""
    return {sym: rank_venues(side, qty, books.get(sym, {}), taker_fees) for sym, qty in quantities.items()}
