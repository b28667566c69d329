"""The event-driven lane on the real Binance L2 stream: risk and matching in the loop, timing,
look-ahead safety, input checks, and the candle/non-candle comparison (roadmap 22)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import pytest
from bt_support import SPOT_BOOK, SPOT_ID, SPOT_TRADES, book

from quantops_api import Gate
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.backtest import (
    BacktestConfig,
    backtest_policy,
    bars_from_book,
    book_arrays,
    compare,
    fingerprint_data,
    run_candle,
    run_non_candle,
)
from quantops_trading.data import load_feed
from quantops_trading.model.ids import InstrumentId
from quantops_trading.strategies.momentum import Momentum, MomentumParams
from quantops_trading.strategy.base import Bar, BookSnapshot, Output, Signal, Strategy, StrategyParams

EVENTS = book(SPOT_BOOK)
PARAMS = MomentumParams(fast=5, slow=20, threshold=0.00002)
CFG = BacktestConfig(instrument=SPOT_ID, expected_edge_bps=50.0)
LAX = backtest_policy(CFG).model_copy(update={"max_consecutive_losses": 1000, "max_drawdown": 0.5})


def _momentum() -> Momentum:
    return Momentum(PARAMS)


def test_fills_walk_the_recorded_book_at_the_first_update_after_the_bar_close() -> None:
    res = run_non_candle(_momentum(), EVENTS, CFG, bar_ms=5_000, policy=LAX)
    arr = book_arrays(EVENTS)
    assert res.lane == "non_candle" and res.trades >= 3 and res.denied == 0
    bucket = arr.ts_ms // 5_000
    for o in res.orders:
        i = o.bar
        assert i > 0 and bucket[i] != bucket[i - 1]  # the first update of a new bar
        assert o.ts == arr.ts_ms[i] / 1000
        if o.side == "buy":  # crossed the spread: at or above the best ask, never through the limit
            assert o.price >= arr.best_ask[i] and o.price <= arr.levels[i, 2 * arr.depth + 2 * 19]
        else:
            assert o.price <= arr.best_bid[i]
        # The venue charges buy fees in base, rounded *up* to the lot (1e-5 BTC) on every fill of
        # every level walked; sell fees in quote, rounded up to the tick. Never less than nominal.
        nominal = o.qty * o.price * 0.001
        assert nominal - 1e-9 <= o.fee <= nominal + (20 * 1e-5 * o.price if o.side == "buy" else 20 * 0.01)
        assert (o.qty * 1e5) == pytest.approx(round(o.qty * 1e5), abs=1e-6)  # whole lots (step 1e-5)
    sides = [o.side for o in res.orders]
    assert sides[::2] == ["buy"] * len(sides[::2]) and sides[1::2] == ["sell"] * len(sides[1::2])
    # Equity is marked at bar closes: flat after the last sell, it is pure cash and stays constant.
    assert res.orders[-1].side == "sell"
    starts = bars_from_book(EVENTS, 5_000)["ts_ms"].to_numpy()
    k = int(np.searchsorted(starts, res.orders[-1].ts * 1000, "right")) - 1  # the bar the sell filled in
    assert np.all(res.equity[k:] == res.final_equity) and res.equity[k - 1] != res.final_equity
    assert res.equity.shape[0] == bars_from_book(EVENTS, 5_000).height
    assert res.fees_paid == pytest.approx(sum(o.fee for o in res.orders))


def test_the_live_fee_guard_refuses_entries_without_an_edge() -> None:
    res = run_non_candle(_momentum(), EVENTS, BacktestConfig(instrument=SPOT_ID), bar_ms=5_000, policy=LAX)
    assert res.orders == [] and res.denied > 0
    assert all("[fee_guard]" in n for n in res.notes)
    assert res.final_equity == 10_000.0


def test_a_stopped_gate_denies_every_entry() -> None:
    stopped = LAX.model_copy(update={"gate": Gate.STOP})
    res = run_non_candle(_momentum(), EVENTS, CFG, bar_ms=5_000, policy=stopped)
    assert res.trades == 0 and res.denied > 0 and all("[gate]" in n for n in res.notes)


def test_kill_switches_of_the_default_policy_act_inside_the_backtest() -> None:
    """Consecutive losses trip the strategy's kill switch mid-run: later entries are denied."""
    strict = backtest_policy(CFG).model_copy(update={"max_consecutive_losses": 2})
    res = run_non_candle(_momentum(), EVENTS, CFG, bar_ms=5_000, policy=strict)
    free = run_non_candle(_momentum(), EVENTS, CFG, bar_ms=5_000, policy=LAX)
    assert res.denied > 0 and res.trades < free.trades
    assert any("[gate]" in n and "consecutive_losses" in n for n in res.notes), res.notes


def test_future_updates_do_not_change_past_fills() -> None:
    full = run_non_candle(_momentum(), EVENTS, CFG, bar_ms=5_000, policy=LAX)
    cut = full.orders[2].bar  # after the third fill
    px_cols = [c for c in EVENTS.columns if "_px_" in c]
    scale = pl.when(pl.int_range(pl.len()) > cut).then(1.003).otherwise(1.0)
    shocked = EVENTS.with_columns((pl.col(c) * scale).alias(c) for c in px_cols)
    alt = run_non_candle(_momentum(), shocked, CFG, bar_ms=5_000, policy=LAX)
    past = lambda r: [(o.side, o.bar, o.qty, o.price) for o in r.orders if o.bar <= cut]  # noqa: E731
    assert len(past(full)) == 3 and past(full) == past(alt)
    assert [(o.side, o.bar) for o in full.orders] != [(o.side, o.bar) for o in alt.orders] or (
        full.final_equity != alt.final_equity
    )


class _ImbalanceParams(StrategyParams):
    hi: float = 0.85
    lo: float = 0.15


class _Imbalance(Strategy):
    """Book-driven: long when the top bid queue dominates, flat when the ask queue does."""

    Params = _ImbalanceParams

    def __init__(self, params: StrategyParams) -> None:
        super().__init__(params)
        self.decisions: list[tuple[int, float]] = []
        self.last = 0.0

    def on_bar(self, bar: Bar, **kwargs: Any) -> Sequence[Output]:
        return ()

    def on_book(self, book: BookSnapshot, **kwargs: Any) -> Sequence[Output]:
        (_, bq), (_, aq) = book.bids[0], book.asks[0]
        imb = bq / (bq + aq)
        p = self.params
        assert isinstance(p, _ImbalanceParams)
        value = 1.0 if imb > p.hi else 0.0 if imb < p.lo else self.last
        if value == self.last:
            return ()
        self.last = value
        self.decisions.append((book.ts_ms, value))
        iid = InstrumentId(book.instrument_id)
        return [Signal(instrument_id=iid, ts_ms=book.ts_ms, value=value, confidence=0.5)]


def test_book_driven_strategies_fill_one_update_after_their_decision() -> None:
    strat = _Imbalance(_ImbalanceParams())
    head = EVENTS.head(1500)
    busy = LAX.model_copy(update={"max_trades_per_minute": 1000})
    res = run_non_candle(strat, head, CFG, bar_ms=1_000, policy=busy)
    ts = book_arrays(head).ts_ms
    assert res.trades >= 2 and strat.decisions
    decided = {t for t, _ in strat.decisions}
    for o in res.orders:
        assert int(ts[o.bar - 1]) in decided  # the update before the fill made the decision


def test_trades_feed_the_bar_volume() -> None:
    seen: list[float] = []

    class Probe(Strategy):
        def on_bar(self, bar: Bar, **kwargs: Any) -> Sequence[Output]:
            seen.append(bar.volume)
            return ()

    trades = load_feed(SPOT_TRADES, "trades").frame
    run_non_candle(Probe(StrategyParams()), EVENTS, CFG, bar_ms=60_000, trades=trades)
    bars = bars_from_book(EVENTS, 60_000)
    minute = (pl.col("ts_ms") // 60_000 * 60_000).alias("b")
    t = trades.with_columns(minute).group_by("b").agg(pl.col("amount").sum())
    expect = dict(zip(t.get_column("b").to_list(), t.get_column("amount").to_list(), strict=True))
    assert seen == pytest.approx([expect.get(b, 0.0) for b in bars.get_column("ts_ms").to_list()])
    assert sum(seen) > 0


def _set(frame: pl.DataFrame, column: str, row: int, value: Any) -> pl.DataFrame:
    new = value if isinstance(value, pl.Expr) else pl.lit(value)
    pick = pl.int_range(pl.len()) == row
    return frame.with_columns(pl.when(pick).then(new).otherwise(pl.col(column)).alias(column))


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda f: f.drop("ask_px_1"), "missing column 'ask_px_1'"),
        (lambda f: f.drop("ts_ms"), "missing column 'ts_ms'"),
        (lambda f: _set(f, "bid_px_1", 5, pl.col("ask_px_1") + 1), r"events.bid_px_1: crossed book at row 5"),
        (lambda f: _set(f, "ask_qty_1", 8, None), r"events.ask_qty_1: missing or non-positive at row 8"),
        (lambda f: _set(f, "ts_ms", 9, 0), r"events.ts_ms: goes backwards at row 9"),
        (lambda f: f.with_columns(pl.col("bid_qty_3").cast(pl.String) + "z"), "a book column is not numeric"),
    ],
)  # fmt: skip
def test_malformed_events_raise_an_error_naming_the_column(mutate: Any, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        run_non_candle(_momentum(), mutate(EVENTS.head(200)), CFG)


def test_compare_lanes_on_the_same_stream_explains_the_cost_gap() -> None:
    bars = bars_from_book(EVENTS, 5_000)
    data_fp = fingerprint_data(EVENTS)
    candle = run_candle(_momentum(), bars, CFG, data_fingerprint=data_fp)
    nc = run_non_candle(_momentum(), EVENTS, CFG, bar_ms=5_000, policy=LAX)
    report = compare(candle, nc)
    assert report.same_strategy and report.same_data and report.same_trades
    assert candle.trades == nc.trades >= 3
    # Same bars, same decisions: the candle fill is the mid, the book fill crosses half the spread.
    assert 0.0 < report.mean_price_gap_bps < 5.0
    assert nc.final_equity < candle.final_equity + 1e-9 or report.mean_price_gap_bps > 0
    starts = bars.get_column("ts_ms").to_numpy()
    fill_bars = [int(np.searchsorted(starts, o.ts * 1000, side="right")) - 1 for o in nc.orders]
    assert [o.bar for o in candle.orders] == fill_bars
    md = report.to_markdown()
    assert "| final_equity |" in md and "same entry/exit sequence: True" in md
    # A denial in one lane is listed as the reason the lanes diverge.
    stopped = LAX.model_copy(update={"gate": Gate.STOP})
    strict = run_non_candle(_momentum(), EVENTS, CFG, bar_ms=5_000, policy=stopped)
    diverged = compare(candle, strict)
    assert not diverged.same_trades
    kinds = {d.kind for d in diverged.divergences}
    assert {"missing_fill", "denied"} <= kinds and "[gate]" in diverged.to_markdown()
    with pytest.raises(ValueError, match="expected \\(candle, non_candle\\)"):
        compare(nc, candle)


def test_policy_default_lets_the_whole_capital_sit_in_one_pair() -> None:
    p = backtest_policy(BacktestConfig(init_cash=5_000))
    assert isinstance(p, RiskPolicySpec) and p.concentration_cap == 1.0 and p.risk_budget == 5_000


def test_a_stream_replayed_twice_still_fills_in_its_second_pass() -> None:
    """Repeated update ids would make the venue think the liquidity was already taken; the lane
    falls back to row numbers when ``last_update_id`` is not strictly increasing."""
    span = int(EVENTS["ts_ms"][-1] - EVENTS["ts_ms"][0]) + 1_000
    twice = pl.concat([EVENTS, EVENTS.with_columns(pl.col("ts_ms") + span)])
    res = run_non_candle(_momentum(), twice, CFG, bar_ms=5_000, policy=LAX)
    once = run_non_candle(_momentum(), EVENTS, CFG, bar_ms=5_000, policy=LAX)
    assert res.denied == 0 and not any("did not fill" in n for n in res.notes)
    assert res.trades > once.trades
    assert book_arrays(EVENTS).update_id[0] == EVENTS["last_update_id"][0]
    assert book_arrays(twice).update_id.tolist() == list(range(twice.height))


def test_a_calibrated_slippage_model_moves_fills_in_both_lanes() -> None:
    from quantops_trading.signals.slippage import SlippageModel

    model = SlippageModel(venue="binance", a_bps=20.0, b_bps=0.0, resid_std_bps=1.0, n=10)
    with_model = BacktestConfig(instrument=SPOT_ID, expected_edge_bps=50.0, slippage_model=model)
    plain = run_non_candle(_momentum(), EVENTS, CFG, bar_ms=5_000, policy=LAX)
    slipped = run_non_candle(_momentum(), EVENTS, with_model, bar_ms=5_000, policy=LAX)
    first = [(a, b) for a, b in zip(plain.orders, slipped.orders, strict=False) if a.bar == b.bar][:4]
    assert len(first) == 4
    for a, b in first:
        move = (b.price / a.price - 1) * 1e4 * (1 if a.side == "buy" else -1)
        assert 19.0 < move < 21.5  # 20 bp adverse, within a tick of rounding
    bars = bars_from_book(EVENTS, 5_000)
    c0, c1 = run_candle(_momentum(), bars, CFG), run_candle(_momentum(), bars, with_model)
    assert c1.orders[0].price == pytest.approx(c0.orders[0].price * (1 + 20e-4), rel=1e-12)


@pytest.mark.parametrize("cash", [10_000.0, 300_000.0, 5_000_000.0])
def test_reading_only_the_levels_an_order_needs_fills_exactly_like_the_full_book(
    cash: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-process venue hands the engine just the levels an order reaches (+1); small, multi-
    level and larger-than-the-book orders must fill exactly as against all 20 levels."""
    from quantops_trading.backtest.inprocess_venue import InProcessVenue

    cfg = BacktestConfig(instrument=SPOT_ID, expected_edge_bps=50.0, slippage_bps=3.0, init_cash=cash)
    big = LAX.model_copy(update={"risk_budget": cash})
    cut = run_non_candle(_momentum(), EVENTS, cfg, bar_ms=5_000, policy=big)
    monkeypatch.setattr(InProcessVenue, "_levels_for", lambda self, i, buy, qty: self.book.depth)
    full = run_non_candle(_momentum(), EVENTS, cfg, bar_ms=5_000, policy=big)
    assert cut.orders and cut.orders == full.orders
    np.testing.assert_array_equal(cut.equity, full.equity)
