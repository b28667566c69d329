"""The risk engine in the trader's live loop: a real venue simulator over HTTP, the real ccxt client.

Each test runs :class:`TraderWork` in-process against ``venue.testing.running_venue`` (the same
simulator `quantops up` runs): ``trader_support.live_trader``.

* 58: a STOP with an open position starts the unwind ladder (passive → aggressive → market), which
  flattens the position on the venue, every step audited; a gate back to GO interrupts it.
* 61: injected venue faults (5xx, slow acks, a frozen book) move ``venue/<name>`` to PAUSE/STOP
  through the execution-health switches, audited, and lift when the fault is gone.
* 62: clustered losing closes throttle, then PAUSE the cluster, with the regime attached.
* 52: a fill that reverses a position (long → short at once) is a closed trade in the evidence;
  a restart rebuilds the evidence from the event log (a defunded strategy stays defunded).
* 54/57: a latched kill switch (drawdown, cash floor) survives a restart; only a human lifts it
  (``spec.config.resetLatchedBefore``), and that lift is durable. 53: so does a loss cool-down.
* 60: the live budget allocator writes a BudgetChanged explainability report to the event logs
  and ``audit.jsonl`` every time the allocation changes, and the gateway uses the new capital.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from trader_support import LADDER, Live, live_trader, stop_with_position, until

from quantops_api import Gate
from quantops_trading.risk.killswitches import LATCHED
from quantops_trading.runtime.trader_role import TraderWork


async def test_58_stop_with_exposure_unwinds_through_the_ladder_on_the_venue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_trader(
        tmp_path, monkeypatch, policy={"unwindLadder": LADDER}, config={"unwindStepSeconds": 0.4}
    ) as live:
        pos, before = await stop_with_position(live)
        await until(lambda: live.position == 0 and not live.work.ladders, 30, "the ladder to flatten")
        venue_orders = (await live.sim.state())["orders"]
        await live.gate("GO")
    steps = [e for e in live.risk_events() if e["kind"] == "risk_unwind_step"]
    assert steps[0]["action"] == "start" and "gate STOP on global" in steps[0]["reason"]
    assert Decimal(steps[0]["remaining"]) == pos
    children = [s for s in steps if s["action"] == "child_order"]
    assert children and children[0]["style"] == "passive"
    assert [s["action"] for s in steps][-1] == "done"
    rungs = [s["rung"] for s in children]
    assert rungs == sorted(rungs)  # the ladder only ever moves to later rungs
    for c in children:  # no child bigger than its rung's cap of what was left (one step of rounding)
        cap = Decimal(str(LADDER[c["rung"]]["maxFraction"])) * abs(Decimal(c["remaining"]))
        assert Decimal(c["quantity"]) <= max(cap, Decimal("0.00001")) + Decimal("0.00001")
    child_ids = {c["client_order_id"] for c in children}
    after_stop = [o for o in venue_orders if o["clientOrderId"] not in before]
    assert after_stop and {o["clientOrderId"] for o in after_stop} <= child_ids  # only the ladder traded
    filled = sum(Decimal(o["executedQty"]) for o in after_stop)
    fills = [e["fill"] for e in live.strategy_events() if e["kind"] == "order_filled"]
    child_fills = [f for f in fills if f["client_order_id"] in child_ids]
    assert child_fills and {f["side"] for f in child_fills} == {"sell" if pos > 0 else "buy"}
    assert sum(Decimal(f["quantity"]) for f in child_fills) == filled  # every child fill booked
    # flat, never flipped: exactly the position was sold, and every fill the strategy had nets to 0
    # (a buy's fee is taken in BTC by the venue: the position, and what is sold, is net of it)
    net = sum(
        Decimal(f["quantity"]) * (1 if f["side"] == "buy" else -1)
        - (Decimal(f["fee"]) if f["fee_currency"] == "BTC" else 0)
        for f in fills
    )
    assert net == 0 and filled == abs(pos)
    styles = [c["style"] for c in children]
    assert styles == sorted(styles, key=["passive", "aggressive", "market"].index)
    assert styles[-1] == "market" and "aggressive" in styles  # staged: time moved it down the ladder


async def test_58_gate_back_to_go_interrupts_the_ladder_and_cancels_its_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = [
        {"style": "passive", "afterSeconds": 0, "maxFraction": 0.3},
        {"style": "market", "afterSeconds": 600, "maxFraction": 1.0},
    ]
    async with live_trader(
        tmp_path, monkeypatch, policy={"unwindLadder": slow}, config={"unwindStepSeconds": 30}
    ) as live:
        await stop_with_position(live)
        await until(lambda: live.work.ladders, 5, "a ladder")
        (ladder,) = live.work.ladders.values()
        child = await until(lambda: ladder.working, 10, "a working child")
        await live.gate("GO")
        assert ladder.interrupted and not live.work.ladders
        orders = {o["clientOrderId"]: o for o in (await live.sim.state())["orders"]}
        assert orders[child]["status"] in ("CANCELED", "FILLED")  # never left working
        n_children = len([s for s in ladder.steps if s.action == "child_order"])
        await asyncio.sleep(1.0)
        assert len([s for s in ladder.steps if s.action == "child_order"]) == n_children
    actions = [e["action"] for e in live.risk_events() if e["kind"] == "risk_unwind_step"]
    assert actions[0] == "start" and actions[-1] == "interrupted"
    (interrupted,) = [e for e in live.risk_events() if e.get("action") == "interrupted"]
    assert "STOP lifted" in interrupted["reason"]


def _venue_switch(live: Live, switch: str) -> str | None:
    assert live.work.gateway is not None
    g = live.work.gateway.switches(f"venue/{live.work.venue}").get(switch)
    return None if g is None else g.value


async def test_61_venue_faults_move_the_venue_scope_to_pause_or_stop_and_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    health = {
        "breakerFailures": 3,
        "breakerCooldownSeconds": 0.5,
        "p99LimitSeconds": 0.3,
        "latencyWindow": 10,
        "latencyMinSamples": 5,
        "telemetryMaxAgeSeconds": 1.5,
    }
    async with live_trader(tmp_path, monkeypatch, policy={}, config={"health": health}) as live:
        gw = live.work.gateway
        assert gw is not None
        scope = f"venue/{live.work.venue}"
        # connector circuit: every API call fails with a 5xx → breaker open → PAUSE
        rid = await live.sim.add_fault(kind="server_error", path="/api/v3")
        await until(lambda: _venue_switch(live, "connector_circuit") == "PAUSE", 20, "circuit PAUSE")
        assert gw.scope_gate(scope).value == "PAUSE"
        await live.sim.clear_faults(rid)
        await until(lambda: _venue_switch(live, "connector_circuit") is None, 20, "circuit lifted")
        # p99 latency breach: acks held 0.6 s on the book endpoint → PAUSE, lifted when fast again
        rid = await live.sim.add_fault(kind="slow_ack", path="/api/v3/depth", delay_s=0.6)
        await until(lambda: _venue_switch(live, "latency_p99") == "PAUSE", 30, "p99 PAUSE")
        await live.sim.clear_faults(rid)
        await until(lambda: _venue_switch(live, "latency_p99") is None, 30, "p99 lifted")
        # telemetry starvation: a frozen book → STOP on the venue scope
        rid = await live.sim.add_fault(kind="stale_book")
        await until(lambda: _venue_switch(live, "telemetry_starvation") == "STOP", 20, "starvation STOP")
        assert gw.scope_gate(scope).value == "STOP"
        await live.sim.clear_faults(rid)
        await until(lambda: gw.scope_gate(scope).value == "GO", 20, "venue back to GO")
        described = live.work.describe()
        assert described["health"]["failures"] >= 3
    events = live.risk_events()
    trips = [(e["switch"], e["gate"]) for e in events if e["kind"] == "risk_kill_switch"]
    for switch, gate in (
        ("connector_circuit", "PAUSE"),
        ("latency_p99", "PAUSE"),
        ("telemetry_starvation", "STOP"),
    ):
        assert (switch, gate) in trips and (switch, None) in trips
    flips = [(e["old"], e["new"]) for e in events if e["kind"] == "gate_changed" and e["scope"] == scope]
    assert ("GO", "PAUSE") in flips and ("GO", "STOP") in flips and ("STOP", "GO") in flips
    actors = {e["actor"] for e in events if e["kind"] == "gate_changed" and e["scope"] == scope}
    assert actors <= {f"execution-health/{s}" for s, _ in trips}


async def test_60_live_budget_changes_are_explained_in_the_event_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    allocator = {
        "rebalanceSeconds": 0.3,
        "minSamples": 1,
        "minConfidence": 0.5,
        "maxCalibrationError": 10,
        "maxShare": 1.0,
    }
    async with live_trader(
        tmp_path,
        monkeypatch,
        policy={"riskBudget": 10000},
        config={"allocator": allocator},
        params={"confidence_scale": 1e-12},  # any trend is a confident one: the weight is > 0
    ) as live:
        gw = live.work.gateway
        assert gw is not None
        # no closed trade yet: no evidence, no capital; after the first close: the whole budget
        await until(lambda: gw.book.capital.get("momo") == Decimal("10000.00"), 60, "momo funded")
    reports = [e for e in live.risk_events() if e["kind"] == "risk_budget_changed"]
    assert reports[0]["allocations"] == {"momo": 0.0} and "evidence_penalty" in reports[0]["explanation"]
    funded = next(r for r in reports if r["allocations"]["momo"] == 10000.0)
    assert funded["report"]["what_changed"]["momo"] == {"old": 0.0, "new": 10000.0}
    assert funded["report"]["inputs"]["momo"]["samples"] >= 1
    assert "momo: 0.00 → 10000.00" in funded["explanation"]
    # the inputs are the live evidence: the mean confidence of the signals logged before it
    log = live.strategy_events()
    at = next(i for i, e in enumerate(log) if e["kind"] == "risk_budget_changed" and e == funded)
    confs = [float(e["lineage"]["confidence"]) for e in log[:at] if e["kind"] == "signal"][-500:]
    mean = funded["report"]["inputs"]["momo"]["confidence"]
    assert mean == pytest.approx(sum(confs) / len(confs), abs=1e-4)  # lineage rounds to 4 places
    audit = (live.state / "audit.jsonl").read_text()
    assert '"event": "BudgetChanged"' in audit and "10000.00" in audit


async def test_52_a_strategy_given_no_budget_only_reduces_once_it_has_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """minConfidence 0.99: momo's weight is 0. It explores at its notional until its first closed
    trade (minSamples 1); from then on the zero allocation caps its target: it only flattens."""
    allocator = {
        "rebalanceSeconds": 0.3,
        "minSamples": 1,
        "minConfidence": 0.99,
        "maxCalibrationError": 10,
        "maxShare": 1.0,
    }
    async with live_trader(
        tmp_path, monkeypatch, policy={"riskBudget": 10000}, config={"allocator": allocator}
    ) as live:
        work, gw = live.work, live.work.gateway
        assert gw is not None
        await until(lambda: "exploring" in work.describe()["budgets"]["momo"]["why"], 30, "exploring")
        await until(lambda: work._closes.get("momo"), 90, "a first closed trade")
        budget = work.describe()["budgets"]["momo"]
        assert Decimal(budget["cap"]) == 0 and budget["why"].startswith("allocated")
        await until(lambda: live.flat and not work.working, 60, "flat")
        await live.ticks_pass(20)
        assert live.flat  # signals kept coming; nothing re-entered
    events = live.strategy_events()
    pos, closed_at = Decimal(0), None
    for i, e in enumerate(events):
        if e["kind"] == "order_filled":
            f = e["fill"]
            new = pos + (1 if f["side"] == "buy" else -1) * Decimal(f["quantity"])
            if pos != 0 and (f["side"] == "sell") == (pos > 0) and closed_at is None:  # reduce/reverse
                closed_at = i
            pos = new
    assert closed_at is not None
    before = [e for e in events[:closed_at] if e["kind"] == "order_submitted"]
    after = [e for e in events[closed_at:] if e["kind"] == "order_submitted"]
    assert before and not before[0]["order"]["reduce_only"]  # it did trade while exploring
    assert all(e["order"]["reduce_only"] for e in after)  # afterwards only reductions
    assert sum(e["kind"] == "signal" for e in events[closed_at:]) >= 20


async def test_52_a_reversal_is_a_closed_trade_in_the_allocators_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Momentum flips straight from long to short (one fill of twice the position). Each such fill
    realises a trade: it must count in the closes the allocator scores (samples, hit rate). Before,
    only a fill that shrank |position| counted, so a strategy that only flipped never had evidence
    and was never funded."""
    async with live_trader(tmp_path, monkeypatch, policy={}, config={}) as live:
        work, gw = live.work, live.work.gateway
        assert gw is not None
        seen: list[tuple[Decimal, Decimal, int, int]] = []  # position before/after, closes before/after
        desk = work.desk
        assert desk is not None
        book = desk.book

        def recording(f: Any) -> None:
            before, n = gw.book.position("momo", f.symbol), len(work._closes.get("momo") or [])
            book(f)
            seen.append((before, gw.book.position("momo", f.symbol), n, len(work._closes.get("momo") or [])))

        monkeypatch.setattr(desk, "book", recording)
        await until(lambda: [s for s in seen if s[0] * s[1] < 0], 60, "a fill that reverses the position")
    for before, after, n_before, n_after in seen:
        closing = before != 0 and (after == 0 or (before > 0) != (after > 0) or abs(after) < abs(before))
        assert n_after == n_before + closing, (before, after, n_before, n_after)


async def test_52_a_restart_rebuilds_the_allocators_evidence_from_the_event_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """minConfidence 0.99: once momo has a closed trade the allocator gives it nothing. Without its
    evidence a restarted trader would score momo from nothing, and momo would explore at its full
    notional again; with it, run 2 (flat, like run 1 at its crash) sends nothing that adds exposure."""
    allocator = {"rebalanceSeconds": 0.3, "minSamples": 1, "minConfidence": 0.99, "maxCalibrationError": 10}
    args: dict[str, Any] = {"policy": {"riskBudget": 10000}, "config": {"allocator": allocator}}
    async with live_trader(tmp_path, monkeypatch, **args) as run1:
        await until(lambda: run1.work._closes.get("momo"), 90, "a first closed trade")
        await until(lambda: run1.flat and not run1.work.working, 60, "flat")  # it only reduces
        async with run1.work.lock:  # no tick in between: the evidence is what the log holds
            closes, confidences = list(run1.work._closes["momo"]), list(run1.work._confidences["momo"])
            await run1.crash()
        reports_before = len([e for e in run1.risk_events() if e["kind"] == "risk_budget_changed"])
        async with live_trader(tmp_path, monkeypatch, server=run1.venue, **args) as run2:
            work = run2.work
            assert work._closes["momo"][: len(closes)] == closes
            assert work._confidences["momo"][: len(confidences)] == pytest.approx(confidences, abs=1e-4)

            def first_report() -> dict[str, Any] | None:
                reports = [e for e in run2.risk_events() if e["kind"] == "risk_budget_changed"]
                return reports[reports_before] if len(reports) > reports_before else None

            report = await until(first_report, 20, "run 2's first budget report")
            assert report["report"]["inputs"]["momo"]["samples"] >= len(closes)
            assert work.describe()["budgets"]["momo"]["why"].startswith("allocated")
            await run2.ticks_pass(20)
    assert all(o["reduce_only"] for o in run2.sent_since_restart()), "momo explored again after the restart"


async def test_54_a_latched_drawdown_stop_survives_restarts_until_a_human_lifts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash, a recycle or a rolling restart is no human decision: the drawdown STOP must hold."""
    policy = {"maxDrawdown": 0.0005}  # the first taker fee is a drawdown of more than 0.05 %
    async with live_trader(tmp_path, monkeypatch, policy=policy, config={}) as run1:
        gw = run1.work.gateway
        assert gw is not None

        def latched() -> set[tuple[str, str]]:
            return {(sc, sw) for sc in ("global", "strategy/momo") for sw in gw.switches(sc) if sw in LATCHED}

        await until(latched, 60, "a drawdown trip")
        async with run1.work.lock:
            tripped = latched()
            await run1.crash()
        async with live_trader(tmp_path, monkeypatch, policy=policy, config={}, server=run1.venue) as run2:
            gw2 = run2.work.gateway
            assert gw2 is not None
            assert {(sc, sw): gw2.switches(sc).get(sw) for sc, sw in tripped} == dict.fromkeys(
                tripped, Gate.STOP
            )
            await run2.ticks_pass(50)
        assert not run2.sent_since_restart(), "traded through a latched STOP"
        log2 = run2.strategy_events()
        restored = [e for e in run2.risk_events() if e["kind"] == "risk_kill_switch" and e["gate"] == "STOP"]
        assert {(e["scope"], e["switch"]) for e in restored if e["reason"].startswith("restored")} == tripped
        # reviewed: a human writes an instant after the trip; the next start lifts it, in the log
        reset = {"resetLatchedBefore": dt.datetime.now(dt.UTC).isoformat()}
        async with live_trader(tmp_path, monkeypatch, policy=policy, config=reset, server=run1.venue) as run3:
            n = len(log2)
            await until(
                lambda: [e for e in run3.strategy_events()[n:] if e["kind"] == "order_submitted"],
                60,
                "trading",
            )
        lifts = [e for e in run3.risk_events() if e["kind"] == "risk_kill_switch" and e["gate"] is None]
        assert {(e["scope"], e["switch"]) for e in lifts if "resetLatchedBefore" in e["reason"]} == tripped
        switch_events = [e for e in run3.risk_events() if e["kind"] == "risk_kill_switch"]
        assert all(e["reason"].count("restored after restart") <= 1 for e in switch_events)  # the trip's own


def test_54_a_reset_instant_that_is_not_a_time_fails_fast_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"spec\.config\.resetLatchedBefore: 'yesterday'"):
        TraderWork({"resetLatchedBefore": "yesterday"}, {})


async def test_53_a_restart_does_not_end_a_loss_cool_down_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = {"maxConsecutiveLosses": 1, "lossCooldownSeconds": 600}  # the first losing close stops momo
    async with live_trader(tmp_path, monkeypatch, policy=policy, config={}) as run1:
        gw = run1.work.gateway
        assert gw is not None
        await until(lambda: "consecutive_losses" in gw.switches("strategy/momo"), 90, "a losing close")
        async with run1.work.lock:
            until_before = gw.losses.until["momo"]
            await run1.crash()
        async with live_trader(tmp_path, monkeypatch, policy=policy, config={}, server=run1.venue) as run2:
            gw2 = run2.work.gateway
            assert gw2 is not None
            assert gw2.switches("strategy/momo").get("consecutive_losses") is Gate.STOP
            assert gw2.losses.until["momo"] == pytest.approx(until_before, abs=2.0)  # the rest, not anew
            await run2.ticks_pass(50)
    assert not run2.sent_since_restart(), "a restart ended the cool-down"
