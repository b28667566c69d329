"""The trader's risk behaviour on the kernel: one step per simulated second, an injected clock.

Same decisions on every run: these tests count ticks, never wait on wall time.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from kernel_support import Kernel, kernel
from trader_support import SYMBOL, trader_runtime

from quantops_trading.venue.config import FaultRule
from quantops_trading.venue.testing import API_KEY, running_venue, sample_config


async def _until(k: Kernel, pred: object, most: int, what: str) -> int:
    """Tick until ``pred()``; return how many ticks it took (fails after ``most``)."""
    for n in range(most):
        if pred():  # type: ignore[operator]
            return n
        await k.tick()
    raise AssertionError(f"{what}: not within {most} ticks")


async def test_62_clustered_losses_throttle_then_pause_the_cluster_on_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = {"throttleAt": 1, "pauseAt": 2, "throttleIntervalSeconds": 10, "windowSeconds": 600}
    regime = {"window": 5, "volLookback": 20, "rvWindow": 5}
    async with kernel(
        tmp_path,
        monkeypatch,
        config={"adverseCluster": cluster, "regime": regime},
        gate="PAUSE",  # warm the regime up before any trade, so every loss carries one
        venue={"taker_fee": Decimal("0.005"), "maker_fee": Decimal("0.005")},
    ) as k:
        await _until(k, lambda: k.work.regimes.current.get(SYMBOL), 200, "a regime")
        await k.gate("GO")
        gw = k.work.gateway
        assert gw is not None
        paused = lambda: gw.switches(f"pair/{SYMBOL}").get("adverse_cluster") is not None  # noqa: E731
        await _until(k, paused, 1500, "the cluster PAUSE")
        assert gw.scope_gate(f"pair/{SYMBOL}").value == "PAUSE"
        assert gw.scope_gate("global").value == "PAUSE"  # clustered in time: the whole book pauses
        for _ in range(30):
            await k.tick()
        events, risk = k.events(), k.events("risk")
    throttled = [e for e in risk if e["kind"] == "risk_cluster_throttled"]
    assert throttled and f"pair={SYMBOL}" in throttled[0]["added"]
    assert any(a.startswith("regime=") for a in throttled[0]["added"])  # the regime was passed
    trips = [e for e in risk if e["kind"] == "risk_kill_switch" and e["switch"] == "adverse_cluster"]
    assert any(e["scope"] == f"pair/{SYMBOL}" and e["gate"] == "PAUSE" for e in trips)
    denied = [e for e in events if e["kind"] == "order_denied"]
    first_throttle = throttled[0]["ts_ns"]
    first_pause = min(e["ts_ns"] for e in trips if e["gate"] == "PAUSE")
    between = [d for d in denied if first_throttle <= d["ts_ns"] <= first_pause]
    assert any("[adverse_cluster]" in d["reason"] for d in between)  # throttled before paused
    assert any("gate PAUSE" in d["reason"] for d in denied if d["ts_ns"] > first_pause)


async def test_95_one_trace_runs_from_a_signal_through_its_order_to_its_fills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every fill and cancel carries its order's trace id, and every order its signal's: from a
    bad fill a person finds the order, the signal and every line logged on the way."""
    async with kernel(tmp_path, monkeypatch) as k:
        await _until(k, lambda: k.work.counts["filled"] >= 3, 300, "three fills")
        events = k.events()
    by_kind: dict[str, list[dict[str, object]]] = {}
    for e in events:
        by_kind.setdefault(str(e["kind"]), []).append(e)
    signal_traces = {e["trace_id"] for e in by_kind["signal"]}
    orders = {e["lineage"]["clientOrderId"]: e["trace_id"] for e in by_kind["order_submitted"]}  # type: ignore[index]
    assert None not in signal_traces and set(orders.values()) <= signal_traces
    fills = by_kind["order_filled"]
    assert len(fills) >= 3
    for f in fills:
        assert f["trace_id"] == orders[f["fill"]["client_order_id"]]  # type: ignore[index]
    for c in by_kind.get("order_cancelled", []):
        assert c["trace_id"] == orders[c["client_order_id"]]
    assert len(set(orders.values())) == len(orders)  # one trace per decision, not one for all


async def test_failing_ticks_are_an_episode_on_record_not_only_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venue bans the trader for a while (418 on every call): one ``tick_failed`` record when
    it starts, one ``tick_recovered`` with the count when a tick succeeds again."""
    async with kernel(tmp_path, monkeypatch, config={"health": {"retryAttempts": 1}}) as k:
        await _until(k, lambda: k.work.ticks >= 3, 10, "three good ticks")
        rule = k.venue.faults.add(FaultRule(kind="ban", path="/api/v3"))
        for _ in range(4):
            await k.tick()
        k.venue.faults.remove(rule)
        for _ in range(2):
            await k.tick()
        risk = k.events("risk")
    failed = [e for e in risk if e["kind"] == "tick_failed"]
    recovered = [e for e in risk if e["kind"] == "tick_recovered"]
    assert len(failed) == 1 and failed[0]["error"] == "RateLimited", failed
    assert len(recovered) == 1 and recovered[0]["ticks"] == 4 and recovered[0]["failed"] == "RateLimited"


async def test_trouble_the_retries_absorbed_is_an_episode_on_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venue drops every other connection on the book endpoint: the retries absorb it (every
    tick succeeds), and the records still say so — one ``venue_degraded`` with the retried error,
    one ``venue_recovered`` with the count after 3 clean ticks. Without the episode a dropped
    connection left nothing on record (docs/soak.md)."""
    async with kernel(tmp_path, monkeypatch) as k:
        await _until(k, lambda: k.work.ticks >= 3, 10, "three good ticks")
        rule = k.venue.faults.add(FaultRule(kind="drop_connection", path="/api/v3/depth", count=2))
        for _ in range(3):
            await k.tick()
        k.venue.faults.remove(rule)
        failed_ticks = k.work._failing[0]
        for _ in range(4):
            await k.tick()
        risk = k.events("risk")
    assert failed_ticks is None  # the retries absorbed it: no tick failed
    degraded = [e for e in risk if e["kind"] == "venue_degraded"]
    recovered = [e for e in risk if e["kind"] == "venue_recovered"]
    assert len(degraded) == 1 and degraded[0]["retries"] >= 1 and "retried after" in degraded[0]["reason"]
    assert len(recovered) == 1 and recovered[0]["retries"] >= degraded[0]["retries"]
    assert recovered[0]["venue"] == "sim" and recovered[0]["seconds"] >= 3.0


async def test_65_a_working_order_nobody_re_decided_within_the_ttl_is_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = {"staleOrderTtlSeconds": 0.5}
    config = {"orderStyle": "passive", "repriceSeconds": 3600}  # the strategy never reprices it
    async with kernel(tmp_path, monkeypatch, policy=policy, config=config) as k:
        await _until(k, lambda: k.work.counts["staleCancelled"] > 0, 300, "a stale order cancelled")
        cancels = [e for e in k.events() if e["kind"] == "order_cancelled"]
    assert any("stale-order TTL" in str(e["reason"]) for e in cancels)


async def test_an_order_over_the_policys_size_cap_is_denied_and_never_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 16: maxOrderQuantity per pair (base units) caps one order, whatever its price says."""
    policy = {"maxOrderQuantity": {SYMBOL: 0.00001}}
    async with kernel(tmp_path, monkeypatch, policy=policy) as k:
        await _until(k, lambda: k.work.counts["denied"] >= 3, 300, "three denials")
        denied = [e for e in k.events() if e["kind"] == "order_denied"]
        assert k.work.counts["submitted"] == 0 and k.position == 0
    assert all("[order_size]" in str(d["reason"]) for d in denied), denied
    assert "exceeds maxOrderQuantity 1e-05" in str(denied[0]["reason"])


async def test_the_booked_position_is_what_the_venue_holds_after_fees_in_the_asset_bought(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venue takes a buy's fee in the base asset (as Binance does): the trader books the fill
    less that fee, so its position is the venue's balance move and its P&L the venue's equity move.
    Booking the gross quantity drifted by the fee on every buy, a strategy closing its position
    sold base the account no longer held, and the fee counted as that many units of quote."""
    fee = Decimal("0.001")  # 10 bps: one fee is many steps of BTC/USDT
    async with kernel(tmp_path, monkeypatch, venue={"taker_fee": fee, "maker_fee": fee}) as k:
        account = k.venue.engine.accounts[API_KEY]
        held = lambda asset: account[asset].free + account[asset].locked  # noqa: E731
        btc, usdt = held("BTC"), held("USDT")
        await _until(k, lambda: k.work.counts["filled"] >= 4, 600, "four fills")
        fills = [e["fill"] for e in k.events() if e["kind"] == "order_filled"]
        assert any(f["fee_currency"] == "BTC" and Decimal(f["fee"]) > 0 for f in fills), fills
        assert k.position == held("BTC") - btc, fills
        book = k.work.gateway.book  # type: ignore[union-attr]
        mark = book.mark(SYMBOL)
        venue_pnl = held("USDT") - usdt + (held("BTC") - btc) * mark
        assert abs(book.pnl("momo") - venue_pnl) < Decimal("0.000001"), (book.pnl("momo"), venue_pnl, fills)


FADE = {  # mean reversion on the same pair: against momo whenever the last bars trend
    "entrypoint": "quantops_trading.strategies.mean_reversion:MeanReversion",
    "params": {"window": 3, "entryZ": 0.5, "exitZ": 0.1},
    "pairs": [SYMBOL],
}


def _orders_by_trace(events: list[dict[str, object]]) -> dict[object, list[str]]:
    out: dict[object, list[str]] = {}
    for e in events:
        if e["kind"] == "order_submitted":
            out.setdefault(e["trace_id"], []).append(str(e["order"]["side"]))  # type: ignore[index]
    return out


async def test_38_opposing_entries_on_one_pair_only_the_most_confident_acts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Momentum and a fast mean reversion on one pair want opposite things whenever the last bars
    trend: the less confident entry is recorded as lost (with the winner and both confidences) and
    sends nothing, so the account never buys and sells the same pair in one tick for two owners."""
    async with kernel(tmp_path, monkeypatch, others={"fade": FADE}) as k:
        lost = lambda: [  # noqa: E731
            e for log in ("momo", "fade") for e in k.events(log)
            if e["kind"] == "decision" and e["action"] == "lost_arbitration"
        ]  # fmt: skip
        await _until(k, lambda: len(lost()) >= 3 and k.work.counts["submitted"] >= 3, 600, "3 lost, 3 sent")
        decisions, momo, fade = lost(), k.events("momo"), k.events("fade")
    assert k.work.counts["lostArbitration"] >= 3
    sent = _orders_by_trace(momo) | _orders_by_trace(fade)
    for d in decisions:  # the loser's signal span produced no order
        assert d["stage"] == "arbitration" and "opposed by" in str(d["reason"]), d
        assert d["trace_id"] is not None and d["trace_id"] not in sent, (d, sent.get(d["trace_id"]))
    per_tick: dict[int, set[str]] = {}  # signal ts → sides sent for entries, both strategies
    for log in (momo, fade):
        traces = {e["trace_id"]: e["ts_ns"] for e in log if e["kind"] == "signal"}
        for e in log:
            if e["kind"] == "order_submitted" and not e["order"]["reduce_only"]:
                per_tick.setdefault(traces[e["trace_id"]], set()).add(e["order"]["side"])
    assert per_tick and all(len(sides) == 1 for sides in per_tick.values()), per_tick


async def test_45_a_strategy_whose_entries_keep_losing_is_throttled_to_its_strongest_signals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every entry is judged 3 s later against a cost no move beats (a false positive by
    construction): after 5 outcomes the throttle holds every entry below confidence 1, recorded
    with the false-positive rate, and the strategy sends no new entry from then on."""
    throttle = {"horizonSeconds": 3, "costBps": 100_000, "window": 5, "minSamples": 5,
                "throttledMinConfidence": 1.0}  # fmt: skip
    async with kernel(tmp_path, monkeypatch, config={"signals": {"throttle": throttle}}) as k:
        throttled = lambda: [e for e in k.events() if e["kind"] == "decision" and e["action"] == "throttled"]  # noqa: E731
        await _until(k, lambda: len(throttled()) >= 5, 900, "five throttled entries")
        first = throttled()[0]
        events = k.events()
    assert k.work.counts["throttled"] >= 5
    assert first["stage"] == "throttle" and "fp rate 100%" in str(first["reason"]), first
    signals = {e["trace_id"]: e["ts_ns"] for e in events if e["kind"] == "signal"}
    orders = [e for e in events if e["kind"] == "order_submitted" and not e["order"]["reduce_only"]]
    at = first["ts_ns"]
    before = [e["order"]["side"] for e in orders if signals[e["trace_id"]] < at]
    after = [e for e in orders if signals[e["trace_id"]] > at]  # top-ups only: the side held before
    assert before and all(e["order"]["side"] == before[-1] for e in after), (before, after)


async def test_40_entries_are_sized_to_the_volatility_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same market, the same signals, two volatility targets: each entry is sized to
    target / realised volatility, so 4× the target is 4× the quantity (leverage cap out of reach),
    and no entry is sent before the pair has a volatility estimate (recorded as sized out)."""
    first: dict[float, dict[str, object]] = {}
    for target in (0.05, 0.2):
        vol = {"targetVol": target, "maxLeverage": 20}
        run = tmp_path / str(target)
        run.mkdir()
        async with kernel(run, monkeypatch, config={"signals": {"volTarget": vol}}) as k:
            await _until(k, lambda: k.work.counts["submitted"] >= 1, 300, "a first entry")
            events = k.events()
        no_vol = [i for i, e in enumerate(events) if "no volatility estimate" in str(e.get("reason"))]
        sent = [i for i, e in enumerate(events) if e["kind"] == "order_submitted"]
        assert no_vol and sent[0] > no_vol[-1], (no_vol, sent)
        first[target] = events[sent[0]]["order"]  # type: ignore[assignment]
    small, large = (Decimal(str(first[t]["quantity"])) for t in (0.05, 0.2))
    assert first[0.05]["side"] == first[0.2]["side"]
    assert abs(large / small - 4) < Decimal("0.01"), (small, large)


def _signals(k: Kernel) -> int:
    return sum(1 for e in k.events() if e["kind"] == "signal")


@pytest.mark.parametrize("enabled", [True, False])
async def test_a_restarted_trader_starts_its_strategies_warm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    """The bars fed before a restart are fed again at the first book after it: the strategy's next
    signal comes at once, not after its 30-bar warm-up. Taken out (``warmStart.enabled: false``),
    the restarted strategy is blind for the whole warm-up again."""
    config = {"warmStart": {"enabled": enabled}}
    async with kernel(tmp_path, monkeypatch, params={"fast": 5, "slow": 30}, config=config) as k:
        cold = await _until(k, lambda: _signals(k) > 0, 60, "the first signal")
        assert cold >= 28  # 30 bars of warm-up (the first tick also opens the book)
        for _ in range(5):
            await k.tick()
        before = _signals(k)
        await k.restart()
        again = await _until(k, lambda: _signals(k) > before, 60, "a signal after the restart")
        warmed = [e for e in k.events() if e["kind"] == "strategies_warmed"]
    if enabled:
        assert again <= 1, again
        assert len(warmed) == 1 and warmed[0]["bars"] >= 30 and warmed[0]["strategies"] == ["momo"]
    else:
        assert again >= 28 and not warmed


async def test_saved_bars_that_do_not_join_up_with_the_market_are_not_fed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Down longer than ``maxGapBars`` polls: the market moved on without the strategy, so it
    warms up on live bars (and the record says why) rather than act on a jump it never saw."""
    async with kernel(
        tmp_path, monkeypatch, params={"fast": 5, "slow": 30}, config={"warmStart": {"maxGapBars": 10}}
    ) as k:
        await _until(k, lambda: _signals(k) > 0, 60, "the first signal")
        await k.restart()
        k.clock.advance(60)  # down for a minute (60 polls) while the market went on
        await k.tick()
        skipped = [e for e in k.events() if e["kind"] == "warm_start_skipped"]
        before = _signals(k)
        again = await _until(k, lambda: _signals(k) > before, 60, "a signal after the restart")
    assert len(skipped) == 1 and "over 10 polls" in skipped[0]["reason"], skipped
    assert again >= 27


async def test_no_feed_starts_before_the_network_self_check_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4: the venue answers 503 to everything at start: the trader waits, saying which step of the
    self-check failed (on /status and in the audit), loads no markets, and starts once it passes."""
    monkeypatch.setenv("QUANTOPS_STATE_DIR", str(tmp_path))
    async with running_venue(sample_config(speed=0.0)) as server:
        assert server.url is not None
        rule = server.faults.add(FaultRule(kind="server_error", path=""))
        work, rt = trader_runtime(server.url, {})
        start = asyncio.create_task(work.start(rt))
        try:
            for _ in range(200):  # the first self-check answers within the 3 s step timeouts
                if work.state.startswith("waiting: network"):
                    break
                await asyncio.sleep(0.05)
            assert "network self-check NO_GO: sim: http failed" in work.state, work.state
            assert not work.markets
            server.faults.remove(rule)
            assert await asyncio.wait_for(start, 30), work.state
        finally:
            rt.stopping.set()
            if not start.done():
                start.cancel()
            await work.flush()
            await rt.control.close()
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    kinds = [a["event"] for a in audit if a["event"].startswith("Network")]
    assert kinds == ["NetworkNoGo", "NetworkGo"], kinds
