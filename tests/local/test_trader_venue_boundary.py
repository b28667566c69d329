"""Bad input at the venue boundary never sizes an order or reaches the books (roadmap 72, 77).

The venue simulator (real HTTP, the real ccxt client) publishes the bad data: a crossed book, a
bad tick at 1/1000 of the price, its trades reported with the side flipped. The trader must refuse
each before sizing or accounting, record it with its reason, and send nothing off it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from trader_support import Live, live_trader, until


def _kinds(live: Live, kind: str) -> list[dict[str, object]]:
    return [e for e in live.strategy_events() if e["kind"] == kind]


async def _nothing_sent_while(live: Live, ticks: int) -> None:
    before = live.work.counts["submitted"]
    await live.ticks_pass(ticks)
    assert live.work.counts["submitted"] == before, "an order was sent off a broken book"


async def _refused_until_cleared(live: Live, fault: str, why: str) -> None:
    """The venue publishes the ``fault`` book: it is refused with ``why`` in the reason, nothing is
    sent off it (working orders withdrawn first, no tick in between), and once the fault is
    cleared the book is used again."""
    rid = await live.sim.add_fault(kind=fault)
    await until(lambda: "BTC/USDT" in live.work.bad_books, 20, f"the {fault} book refused")
    assert why in live.work.bad_books["BTC/USDT"]
    assert why in live.work.describe()["books"]["BTC/USDT"]["refused"]  # and says so on /status
    async with live.work.lock:
        for cid in list(live.work.working):
            await live.work._cancel(cid, "test: a clean slate")
    await _nothing_sent_while(live, 5)
    await live.sim.clear_faults(rid)
    await until(lambda: "BTC/USDT" not in live.work.bad_books, 20, "the book usable again")
    assert live.work.describe()["books"]["BTC/USDT"]["refused"] is None


async def test_a_crossed_book_is_refused_and_nothing_is_sent_off_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_trader(tmp_path, monkeypatch, policy={}, config={}) as live:
        await live.ticks_pass(3)
        await _refused_until_cleared(live, "crossed_book", "crossed")
    rejected = _kinds(live, "book_rejected")
    assert len(rejected) == 1 and "crossed: bid" in str(rejected[0]["reason"])  # once per episode
    assert len(_kinds(live, "book_recovered")) == 1


async def test_a_bad_tick_far_outside_the_collar_is_refused_until_a_new_level_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 1/1000 of the price a target notional sizes 1000× the quantity, and the exposure, priced
    at that same tick, passes every limit: the collar refuses it before sizing."""
    async with live_trader(
        tmp_path, monkeypatch, policy={}, config={"priceCollarConfirmSeconds": 3600}
    ) as live:
        await live.ticks_pass(3)
        await _refused_until_cleared(live, "price_glitch", "price collar")
    assert any("price collar" in str(e["reason"]) for e in _kinds(live, "book_rejected"))


async def test_a_fill_on_the_wrong_side_is_quarantined_not_booked_and_pauses_the_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_trader(tmp_path, monkeypatch, policy={}, config={}) as live:
        await live.sim.add_fault(kind="wrong_fill")
        await until(lambda: live.work.counts["fillsQuarantined"] > 0, 60, "a fill quarantined")
        assert live.work.counts["filled"] == 0  # nothing reached the books
        assert live.position == 0
        gw = live.work.gateway
        assert gw is not None
        assert gw.switches("pair/BTC/USDT").get("fill_validation") is not None
        assert gw.scope_gate("pair/BTC/USDT").value == "PAUSE"
    (q, *_) = _kinds(live, "fill_quarantined")
    assert "side" in str(q["reason"]) and q["fill"]


async def test_a_book_that_stopped_updating_is_refused_until_it_moves_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venue freezes its book (contents and timestamp): the feed stopped, whatever it says."""
    async with live_trader(tmp_path, monkeypatch, policy={}, config={"maxBookAgeSeconds": 0.5}) as live:
        await live.ticks_pass(3)
        assert "BTC/USDT" not in live.work.bad_books  # a live book moves
        await _refused_until_cleared(live, "stale_book", "stale")
    assert any("has not changed" in str(e["reason"]) for e in _kinds(live, "book_rejected"))


async def test_an_order_that_would_walk_the_book_empty_is_not_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target of 50 million USDT in BTC is more than the whole book holds: skipped, not sent."""
    config = {"notionalPerStrategy": 50_000_000}
    async with live_trader(tmp_path, monkeypatch, policy={"maxGrossExposure": 1e12}, config=config) as live:
        await until(lambda: live.work.counts["thinSkipped"] > 0, 60, "an order skipped as too thin")
        assert live.work.counts["submitted"] == 0
    (skipped, *_) = _kinds(live, "order_skipped")
    assert "too thin" in str(skipped["reason"])


async def test_74_a_burst_of_5xx_on_a_read_is_retried_with_backoff_inside_the_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two gateway errors on the book: the third attempt answers, the tick completes."""
    async with live_trader(tmp_path, monkeypatch, policy={}, config={}) as live:
        await live.ticks_pass(2)
        capsys.readouterr()
        await live.sim.add_fault(kind="server_error", path="/api/v3/depth", count=2)
        await live.ticks_pass(3)
        assert live.work.describe()["venueRetries"] == 2
        health = live.work.health
        assert health is not None and health.failures >= 2  # each failed attempt counts for the venue
    assert "trader_tick_failed" not in capsys.readouterr().out
