"""Whether a pair's book may price anything this tick (roadmap 72), decided before sizing.

Why it exists: an order priced off a broken book is the most common way to lose money to data
problems, and a glitch price near zero sizes a huge order whose exposure, priced at that same
price, passes every limit. A book is refused when :func:`~quantops_trading.execution.pretrade.
check_quotes` finds an empty side, a non-positive or non-finite level, a crossed or locked top;
when its feed has not moved for ``max_age_s`` (the age comes from the venue's health, which sees
every book); or when its mid is outside the price collar: more than ``collar_bps`` from the last
accepted mid, until the new level has held for ``collar_confirm_s`` (a real move is then accepted,
a one-off bad tick never is). Without an accepted mid yet (a start, a restart) the first book is
judged against a ``reference`` from another source (the venue's last trade): a trader that starts
during a bad tick must not anchor its collar on it and then refuse every correct book. A refusal
is one episode: its start and its end are the two events the caller records. Time is the
injected clock's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from quantops_trading.execution.pretrade import check_quotes
from quantops_trading.execution.types import OrderBook

__all__ = ["BookGuard", "Judged"]


@dataclass(frozen=True)
class Judged:
    """``mid`` when the book is usable; ``event`` = (``book_rejected``|``book_recovered``, why)
    when an episode starts or ends with this book."""

    mid: Decimal | None
    event: tuple[str, str] | None = None


@dataclass
class BookGuard:
    collar_bps: Decimal = Decimal(1000)
    collar_confirm_s: float = 60.0
    max_age_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    bad: dict[str, str] = field(default_factory=dict)  # symbol → why its book is refused now
    accepted_mid: dict[str, Decimal] = field(default_factory=dict)
    collar_since: dict[str, tuple[Decimal, float]] = field(default_factory=dict)

    def judge(self, book: OrderBook, age_s: float | None = None, reference: Decimal | None = None) -> Judged:
        problems = check_quotes(book)
        mid = (book.bids[0][0] + book.asks[0][0]) / 2 if not problems else Decimal(0)
        if not problems:
            problems = self._collar(book.symbol, mid, reference)
        if age_s is not None and age_s > self.max_age_s:  # this pair's feed stopped moving
            problems = (*problems, f"stale: the book has not changed for {age_s:.0f}s")
        was = self.bad.get(book.symbol)
        if problems:
            self.bad[book.symbol] = why = "; ".join(problems)
            return Judged(None, ("book_rejected", why) if was is None else None)
        if was is not None:
            del self.bad[book.symbol]
            return Judged(mid, ("book_recovered", was))
        return Judged(mid)

    def _collar(self, symbol: str, mid: Decimal, reference: Decimal | None = None) -> tuple[str, ...]:
        last = self.accepted_mid.get(symbol)
        if last is None and reference is not None and reference > 0 and reference.is_finite():
            last = reference  # no accepted mid yet: the other source stands in for it
        now = self.clock()
        if last is None or abs(mid / last - 1) * 10_000 <= self.collar_bps:
            self.accepted_mid[symbol] = mid
            self.collar_since.pop(symbol, None)
            return ()
        level, since = self.collar_since.get(symbol, (mid, now))
        if abs(mid / level - 1) * 10_000 > self.collar_bps:
            level, since = mid, now  # moving again: the new level has not held yet
        self.collar_since[symbol] = (level, since)
        if now - since >= self.collar_confirm_s:
            self.accepted_mid[symbol] = mid
            del self.collar_since[symbol]
            return ()
        moved = float(abs(mid / last - 1) * 100)
        return (f"price collar: mid {mid} is {moved:.1f}% from the last accepted {last}",)
