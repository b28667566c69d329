"""BookGuard on an injected clock: which books may price anything (roadmap 72)."""

from __future__ import annotations

from decimal import Decimal

from quantops_trading.execution.types import OrderBook
from quantops_trading.runtime.book_guard import BookGuard

D = Decimal


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def book(bid: str, ask: str, symbol: str = "BTC/USDT") -> OrderBook:
    return OrderBook(symbol=symbol, bids=((D(bid), D(1)),), asks=((D(ask), D(1)),), timestamp_ms=1)


def test_a_bad_tick_is_refused_once_per_episode_and_its_end_recorded() -> None:
    guard = BookGuard(collar_bps=D(1000), collar_confirm_s=60, clock=Clock())
    assert guard.judge(book("100", "102")).mid == D(101)
    j = guard.judge(book("0.1", "0.102"))
    assert j.mid is None and j.event is not None and j.event[0] == "book_rejected"
    assert "price collar" in j.event[1] and "price collar" in guard.bad["BTC/USDT"]
    assert guard.judge(book("0.1", "0.102")).event is None  # the same episode: no second record
    back = guard.judge(book("100", "102"))
    assert back.mid == D(101) and back.event == ("book_recovered", j.event[1])
    assert not guard.bad


def test_a_real_move_is_accepted_once_the_new_level_has_held() -> None:
    clock = Clock()
    guard = BookGuard(collar_bps=D(1000), collar_confirm_s=60, clock=clock)
    guard.judge(book("100", "102"))
    assert guard.judge(book("150", "152")).mid is None
    clock.t = 59
    assert guard.judge(book("151", "153")).mid is None  # still inside the new level: not yet held
    clock.t = 60
    j = guard.judge(book("150", "152"))
    assert j.mid == D(151) and j.event is not None and j.event[0] == "book_recovered"


def test_a_level_still_moving_restarts_the_confirmation() -> None:
    clock = Clock()
    guard = BookGuard(collar_bps=D(1000), collar_confirm_s=60, clock=clock)
    guard.judge(book("100", "102"))
    guard.judge(book("150", "152"))
    clock.t = 30
    assert guard.judge(book("200", "202")).mid is None  # moved again: a new level from here
    clock.t = 60
    assert guard.judge(book("200", "202")).mid is None
    clock.t = 90
    assert guard.judge(book("200", "202")).mid == D(201)


def test_crossed_locked_and_stale_books_are_refused() -> None:
    guard = BookGuard(max_age_s=5, clock=Clock())
    assert "crossed" in (guard.judge(book("103", "102")).event or ("", ""))[1]
    assert "locked" in (guard.judge(book("102", "102", "ETH/USDT")).event or ("", ""))[1]
    j = guard.judge(book("100", "102", "SOL/USDT"), age_s=6)
    assert j.mid is None and "stale" in guard.bad["SOL/USDT"]
    assert guard.judge(book("100", "102", "SOL/USDT"), age_s=1).mid == D(101)


def test_a_first_book_is_judged_against_another_source_not_taken_as_the_reference() -> None:
    """A trader (re)starting during a bad tick: the glitch must not become the collar's anchor."""
    clock = Clock()
    guard = BookGuard(collar_bps=D(1000), collar_confirm_s=60, clock=clock)
    glitch = guard.judge(book("0.1", "0.102"), reference=D("101"))
    assert glitch.mid is None and "price collar" in guard.bad["BTC/USDT"]
    assert guard.judge(book("100", "102"), reference=D("101")).mid == D(101)  # the right book passes
    assert guard.judge(book("0.1", "0.102")).mid is None  # and is now the anchor
