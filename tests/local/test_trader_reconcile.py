"""The trader's books against the venue's balances (roadmap 65, 75, 79), on the real simulator.

The venue simulator keeps the account (real HTTP, the real ccxt client); the trader must agree with
it before its first order and keep agreeing: a restart that lost its state must not buy its
position again, a trade nobody booked PAUSEs the pair until the balances agree again, and an order
nobody re-decided within the policy's TTL is cancelled.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from trader_support import SYMBOL, Live, live_trader, until

from quantops_api import Gate
from quantops_trading.adapters.ccxt import make_binance
from quantops_trading.venue.testing import API_KEY, API_SECRET

FAST = {"reconcileSeconds": 0.2}


async def _btc(live: Live) -> Decimal:
    state = await live.sim.state()
    return Decimal(state["balances"][API_KEY]["BTC"])


def _reconcile_gate(live: Live) -> Gate | None:
    gw = live.work.gateway
    assert gw is not None
    return gw.switches(f"pair/{SYMBOL}").get("reconcile")


async def _holding(live: Live) -> Decimal:
    """Wait for a position with nothing working on the venue, every fill so far booked."""
    while True:
        await until(lambda: live.position != 0 and not live.work.working, 90, "a position, nothing working")
        async with live.work.lock:
            await live.work._sync()
            if live.position != 0 and not live.work.working:
                return live.position


async def test_a_trader_that_lost_its_state_does_not_buy_its_position_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The re-buy seen on real pods with an emptyDir: the new trader starts flat while the venue
    holds the old position. Reconciliation before the first order finds the venue's fills in no
    book of its own, PAUSEs the pair with the numbers, and nothing is bought."""
    async with live_trader(tmp_path, monkeypatch, policy={}, config=FAST) as run1:
        held = await _holding(run1)
        async with run1.work.lock:
            await run1.crash()
        shutil.rmtree(tmp_path / "state")  # the state volume is gone; the venue's account is not
        before = await _btc(run1)
        async with live_trader(tmp_path, monkeypatch, policy={}, config=FAST, server=run1.venue) as run2:
            assert run2.position == 0  # it has no record of the old position
            assert _reconcile_gate(run2) is Gate.PAUSE  # set before the first order
            await run2.ticks_pass(20)
            assert run2.work.counts["submitted"] == 0, "bought the lost position again"
            assert await _btc(run2) == before
    (baseline,) = [e for e in run2.risk_events() if e["kind"] == "venue_baseline"]
    assert baseline["unownedFills"] > 0
    (paused,) = [
        e for e in run2.risk_events() if e["kind"] == "risk_kill_switch" and e["switch"] == "reconcile"
    ]
    assert paused["gate"] == "PAUSE" and "BTC" in paused["reason"] and held != 0


async def test_a_restart_with_its_state_agrees_with_the_venue_and_trades_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_trader(tmp_path, monkeypatch, policy={}, config=FAST) as run1:
        await _holding(run1)
        await until(lambda: run1.work.venue_check and run1.work.venue_check.passes >= 5, 30, "5 passes")
        assert _reconcile_gate(run1) is None, "the trader's own fills read as drift"
        async with run1.work.lock:
            await run1.crash()
        async with live_trader(tmp_path, monkeypatch, policy={}, config=FAST, server=run1.venue) as run2:
            assert run2.position != 0
            assert _reconcile_gate(run2) is None
            await until(lambda: run2.work.counts["submitted"] > 0, 90, "trading on after the restart")
    assert len([e for e in run2.risk_events() if e["kind"] == "venue_baseline"]) == 1  # taken once
    assert not [e for e in run2.risk_events() if e.get("switch") == "reconcile"]


async def test_a_trade_nobody_booked_pauses_the_pair_until_the_balances_agree_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person trades the trader's account by hand: the venue's BTC moves, the books do not."""
    async with live_trader(tmp_path, monkeypatch, policy={}, config=FAST) as live:
        await until(lambda: live.work.venue_check and live.work.venue_check.passes >= 3, 30, "3 passes")
        assert _reconcile_gate(live) is None
        by_hand = make_binance(live.venue.url or "", API_KEY, API_SECRET)
        try:
            bought = await by_hand.create_order(SYMBOL, "market", "buy", 0.01)
            await until(lambda: _reconcile_gate(live) is Gate.PAUSE, 30, "the pair PAUSEd")
            fee = Decimal(str(bought["fee"]["cost"])) if bought.get("fee") else Decimal(0)
            await by_hand.create_order(SYMBOL, "market", "sell", float(Decimal("0.01") - fee))
        finally:
            await by_hand.close()
        await until(lambda: _reconcile_gate(live) is None, 30, "the PAUSE lifted")
    events = [e for e in live.risk_events() if e["kind"] == "risk_kill_switch" and e["switch"] == "reconcile"]
    assert [e["gate"] for e in events] == ["PAUSE", None]
    unowned = [e for e in live.risk_events() if e["kind"] == "fill_unowned"]
    assert [(e["fill"]["side"], e["fill"]["quantity"]) for e in unowned] == [
        ("buy", "0.01"),
        ("sell", "0.00999"),
    ]
    assert "no book of ours knows" in unowned[0]["reason"]
    assert "off by +0.0099" in events[0]["reason"]  # 0.01 bought, less the fee paid in BTC


async def test_a_truncated_event_log_halts_the_trader_alive_not_ready_and_sending_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last rows of the risk log are cut off while the trader is down (a lost WAL, a restore
    from an old copy): a latched STOP could be among them. The restarted trader must not trade on
    what is left, and must not crash-loop either: it says why and waits for a person."""
    async with live_trader(tmp_path, monkeypatch, policy={}, config=FAST) as run1:
        await _holding(run1)
        async with run1.work.lock:
            await run1.crash()
        risk = tmp_path / "state" / "eventlogs" / "risk.sqlite"
        with sqlite3.connect(risk) as db:  # the append-only triggers live in the same file
            for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
                db.execute(f"DROP TRIGGER {trigger}")
            db.execute("DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)")
        async with live_trader(tmp_path, monkeypatch, policy={}, config=FAST, server=run1.venue) as run2:
            rt = run2.rt
            assert run2.work.state.startswith("halted: ") and "hash chain broken" in run2.work.state
            assert rt.alive() and not rt.ready()[0] and "halted" in rt.ready()[1]
            assert rt.status()["halted"]
            await asyncio.sleep(0)  # the trader is parked on the stop event: no tick ever runs
            assert run2.work.counts["submitted"] == 0 and run2.work.ticks == 0
    audit = [json.loads(x) for x in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    (halted,) = [a for a in audit if a.get("event") == "TraderHalted"]
    assert "risk.sqlite" in halted["reason"]
