"""The candle lane's execution model, costs, look-ahead safety, input checks and strategy sources."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
import pytest
from bt_support import ETH_BTC_5M, candles, reference_candle
from hypothesis import given, settings
from hypothesis import strategies as st

from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.backtest import (
    BacktestConfig,
    CandleArrays,
    MaCrossover,
    candle_arrays,
    run_candle,
    sma,
)
from quantops_trading.model.ids import InstrumentId
from quantops_trading.risk.lifecycle import simulate_promotion
from quantops_trading.strategies.momentum import Momentum, MomentumParams
from quantops_trading.strategy.base import Bar, Output, Signal, Strategy, StrategyParams

BARS = candles(ETH_BTC_5M)


def _signals(arr: CandleArrays) -> tuple[np.ndarray, np.ndarray]:
    return MaCrossover(10, 30)(arr)


@settings(max_examples=25, deadline=None)
@given(
    fee=st.floats(0.0, 0.01),
    slip=st.floats(0.0, 50.0),
    phi=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**16),
)
def test_vectorised_lane_equals_the_plain_loop_reference(
    fee: float, slip: float, phi: float, seed: int
) -> None:
    """Random entry/exit arrays on real prices: the array maths equals the obvious per-bar loop."""
    arr = candle_arrays(BARS)
    rng = np.random.default_rng(seed)
    entries, exits = rng.random(len(arr)) < 0.03, rng.random(len(arr)) < 0.03
    cfg = BacktestConfig(fee_rate=fee, slippage_bps=slip, size_fraction=phi)
    res = run_candle(lambda _: (entries, exits), BARS, cfg)
    equity, fills = reference_candle(arr.open, arr.close, entries, exits, cfg)
    np.testing.assert_allclose(res.equity, equity, rtol=1e-9)
    assert [(o.side, o.bar) for o in res.orders] == [(s, t) for s, t, _, _ in fills]
    np.testing.assert_allclose([o.qty for o in res.orders], [q for *_, q, _ in fills], rtol=1e-9)
    np.testing.assert_allclose([o.price for o in res.orders], [p for *_, p in fills], rtol=1e-12)
    assert res.trades == sum(1 for s, *_ in fills if s == "buy")


def test_fees_and_slippage_reduce_equity_monotonically() -> None:
    """Same decisions, higher costs: every bar's equity is lower or equal, final strictly lower."""
    prev: np.ndarray | None = None
    for fee, slip in [(0.0, 0.0), (0.0005, 0.0), (0.001, 0.0), (0.001, 2.0), (0.002, 10.0)]:
        eq = run_candle(MaCrossover(10, 30), BARS, BacktestConfig(fee_rate=fee, slippage_bps=slip)).equity
        if prev is not None:
            assert np.all(eq <= prev + 1e-9)
            assert eq[-1] < prev[-1]
        prev = eq


@settings(max_examples=20, deadline=None)
@given(f1=st.floats(0.0, 0.02), f2=st.floats(0.0, 0.02))
def test_fee_monotonicity_property(f1: float, f2: float) -> None:
    lo, hi = sorted((f1, f2))
    a = run_candle(MaCrossover(5, 20), BARS, BacktestConfig(fee_rate=lo)).final_equity
    b = run_candle(MaCrossover(5, 20), BARS, BacktestConfig(fee_rate=hi)).final_equity
    assert b <= a + 1e-9


@pytest.mark.parametrize("source", ["signal_function", "callback_strategy"])
@pytest.mark.parametrize("cut", [500, 2000, 4000])
def test_no_look_ahead_future_bars_do_not_change_past_fills(source: str, cut: int) -> None:
    """Scramble every bar after ``cut``: fills up to ``cut`` and equity up to ``cut`` are unchanged."""
    rng = np.random.default_rng(cut)
    factor = np.ones(BARS.height)
    factor[cut + 1 :] = rng.uniform(0.8, 1.25, BARS.height - cut - 1)
    shocked = BARS.with_columns(
        (pl.col(c) * pl.Series(factor)).alias(c) for c in ("open", "high", "low", "close")
    )

    def run(frame: pl.DataFrame) -> Any:
        momentum = Momentum(MomentumParams(fast=6, slow=24))
        strat = MaCrossover(10, 30) if source == "signal_function" else momentum
        return run_candle(strat, frame, BacktestConfig())

    a, b = run(BARS), run(shocked)
    past = lambda r: [(o.side, o.bar, o.qty, o.price) for o in r.orders if o.bar <= cut]  # noqa: E731
    assert past(a) and past(a) == past(b)
    np.testing.assert_array_equal(a.equity[: cut + 1], b.equity[: cut + 1])
    assert a.final_equity != b.final_equity  # the shock really changed the future


def test_a_decision_on_the_last_bar_never_fills_and_an_open_position_is_marked() -> None:
    n = 50
    frame = BARS.head(n)
    entries = np.zeros(n, bool)
    exits = np.zeros(n, bool)
    entries[10], exits[n - 1] = True, True
    res = run_candle(lambda _: (entries, exits), frame, BacktestConfig(fee_rate=0.0))
    assert [(o.side, o.bar) for o in res.orders] == [("buy", 11)]
    assert res.trades == 1 and "still open" in res.notes[0]
    close = frame.get_column("close").to_numpy()
    qty = res.orders[0].qty
    assert res.final_equity == pytest.approx(qty * close[-1])
    assert res.equity[10] == 10_000.0  # decided on bar 10, not yet filled


def _set(frame: pl.DataFrame, column: str, row: int, value: Any) -> pl.DataFrame:
    """``frame`` with one cell of ``column`` replaced (a literal or an expression)."""
    new = value if isinstance(value, pl.Expr) else pl.lit(value)
    pick = pl.int_range(pl.len()) == row
    return frame.with_columns(pl.when(pick).then(new).otherwise(pl.col(column)).alias(column))


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda f: f.drop("close"), "missing column 'close'"),
        (lambda f: f.with_columns(pl.col("open").cast(pl.String) + "x"), "bars.open: not numeric"),
        (lambda f: _set(f, "low", 7, None), "bars.low: null at row 7"),
        (lambda f: _set(f, "high", 3, float("nan")), "bars.high: non-finite value nan at row 3"),
        (lambda f: _set(f, "close", 5, -1.0), "bars.close: price must be > 0"),
        (lambda f: _set(f, "ts_ms", 9, pl.col("ts_ms") - 10**9), "bars.ts_ms: not strictly increasing at row 9"),  # noqa: E501
        (lambda f: _set(f, "high", 4, pl.col("low") / 2), "bars.high: below bars.low at row 4"),
        (lambda f: f.head(0), "bars: no rows"),
    ],
)  # fmt: skip
def test_malformed_bars_raise_an_error_naming_the_column(mutate: Any, needle: str) -> None:
    frame = mutate(BARS.select("ts_ms", "open", "high", "low", "close"))
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        run_candle(MaCrossover(10, 30), frame, BacktestConfig())


class _SmaStrategyParams(StrategyParams):
    fast: int = 10
    slow: int = 30


class _SmaCallback(Strategy):
    """The MaCrossover rule written as a bar callback (what most strategies look like)."""

    Params = _SmaStrategyParams

    def __init__(self, params: StrategyParams) -> None:
        super().__init__(params)
        self.closes: list[float] = []
        self.prev: int | None = None

    def on_bar(self, bar: Bar, **kwargs: Any) -> Sequence[Output]:
        self.closes.append(bar.close)
        p = self.params
        assert isinstance(p, _SmaStrategyParams)
        if len(self.closes) < p.slow:
            return ()
        fast = sma(np.array(self.closes[-p.fast :]), p.fast)[-1]
        slow = sma(np.array(self.closes[-p.slow :]), p.slow)[-1]
        state = 1 if fast > slow else -1 if fast < slow else 0
        prev, self.prev = self.prev, state
        if prev is None or state == prev or state == 0:
            return ()
        value = 1.0 if state > 0 else 0.0
        iid = InstrumentId(bar.instrument_id)
        return [Signal(instrument_id=iid, ts_ms=bar.ts_ms, value=value, confidence=0.5)]


class _SmaVectorised(_SmaCallback):
    calls = 0

    def signals(self, bars: CandleArrays) -> tuple[np.ndarray, np.ndarray]:
        type(self).calls += 1
        return MaCrossover(10, 30)(bars)


def test_callback_vectorised_and_function_sources_give_the_same_backtest() -> None:
    # ETH/BTC 5m has no flat runs: on flat bars the cumsum SMA and a windowed mean can disagree in
    # the last ulp (fast == slow or not), which is a tie, not a different rule.
    frame = BARS
    cfg = BacktestConfig(fee_rate=0.00075, slippage_bps=1.0)
    fn = run_candle(MaCrossover(10, 30), frame, cfg)
    cb = run_candle(_SmaCallback(_SmaStrategyParams()), frame, cfg)
    vec = run_candle(_SmaVectorised(_SmaStrategyParams()), frame, cfg)
    assert _SmaVectorised.calls == 1  # the vectorised protocol was used, not on_bar
    key = lambda r: [(o.side, o.bar) for o in r.orders]  # noqa: E731
    assert key(fn) == key(cb) == key(vec) and fn.trades > 5
    assert fn.final_equity == pytest.approx(cb.final_equity, rel=1e-9) == vec.final_equity
    assert fn.strategy_fingerprint != cb.strategy_fingerprint  # different code, different identity


def test_metrics_and_orders_replay_through_the_risk_governor() -> None:
    cfg = BacktestConfig(instrument="ETH/BTC@bittrex", expected_edge_bps=50.0)
    res = run_candle(MaCrossover(10, 30), BARS, cfg)
    m = res.metrics()
    assert m["trades"] == res.trades and m["orders"] == len(res.orders)
    assert m["total_return"] == pytest.approx(res.final_equity / 10_000 - 1)
    peak = np.maximum.accumulate(res.equity)
    assert m["max_drawdown"] == pytest.approx(float(np.max((peak - res.equity) / peak)))
    notional = sum(o.qty * o.price for o in res.orders)
    assert m["turnover"] == pytest.approx(notional / 10_000)
    assert m["fees_paid"] == pytest.approx(sum(o.fee for o in res.orders)) == pytest.approx(notional * 0.001)
    assert len(res.strategy_fingerprint) == len(res.data_fingerprint) == 64
    sims = res.sim_orders("ma-x")
    assert [s.request.intent.side.value for s in sims] == [o.side for o in res.orders]
    assert all(s.request.pair == "ETH/BTC" for s in sims)
    assert all(s.request.expected_edge_bps == 50.0 for s in sims)
    lax = RiskPolicySpec(
        concentration_cap=1.0, risk_budget=10_000, max_drawdown=0.9, max_consecutive_losses=1000,
        max_trades_per_minute=1000, max_orders_per_minute=1000,
    )  # fmt: skip
    report = simulate_promotion("ma-x", sims, lax, capital=Decimal(10_000))
    assert report.passed, report.explain()
    assert report.orders == len(sims)
    capped = lax.model_copy(update={"max_pair_exposure": 1.0})
    refused = simulate_promotion("ma-x", sims, capped, capital=Decimal(10_000))
    assert not refused.passed and refused.breaches[0].rule == "pair_exposure"


def test_config_rejects_bad_values_by_name() -> None:
    bad = [("init_cash", 0.0), ("fee_rate", -0.1), ("slippage_bps", -1.0), ("size_fraction", 1.5)]
    for field, value in bad:
        with pytest.raises(ValueError, match=f"BacktestConfig.{field}"):
            BacktestConfig(**{field: value})


def _walk(n: int, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    return pl.DataFrame(
        {
            "ts_ms": 60_000 * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * 1.0001,
            "low": np.minimum(open_, close) * 0.9999,
            "close": close,
            "volume": rng.random(n),
        }
    )


LONG = _walk(200_000)  # longer than the checks' scan chunk (65,536 rows): defects in later chunks


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda f: _set(f, "close", 150_001, float("inf")), "bars.close: non-finite value inf at row 150001"),
        (lambda f: _set(f, "open", 131_072, 0.0), "bars.open: price must be > 0, got 0.0 at row 131072"),
        (lambda f: _set(f, "low", 70_000, pl.col("high") * 2), "bars.high: below bars.low at row 70000"),
        (lambda f: _set(f, "ts_ms", 65_536, pl.col("ts_ms") - 60_000), "bars.ts_ms: not strictly increasing at row 65536"),  # noqa: E501
        (lambda f: _set(f, "volume", 199_999, float("nan")), "bars.volume: non-finite value nan at row 199999"),  # noqa: E501
        (lambda f: _set(f, "high", 100_000, None), "bars.high: null at row 100000"),
    ],
)  # fmt: skip
def test_defects_deep_in_long_bars_are_named_with_their_row(mutate: Any, needle: str) -> None:
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        candle_arrays(mutate(LONG))


def test_checked_columns_are_the_frames_own_buffers_whatever_the_dtypes() -> None:
    arr = candle_arrays(LONG)
    for name in ("ts_ms", "open", "high", "low", "close", "volume"):
        assert np.shares_memory(getattr(arr, name), LONG.get_column(name).to_numpy())  # no copies
    assert arr.bar_ms == 60_000
    other = candle_arrays(
        LONG.with_columns(pl.col("ts_ms").cast(pl.UInt64), pl.col("volume").cast(pl.Float32))
    )
    np.testing.assert_array_equal(other.ts_ms, arr.ts_ms)
    np.testing.assert_array_equal(other.close, arr.close)
    np.testing.assert_array_equal(other.volume, arr.volume.astype(np.float32))
    uneven = candle_arrays(
        LONG.head(5).with_columns(pl.Series("ts_ms", [0, 60_000, 120_000, 300_000, 360_000]))
    )
    assert uneven.bar_ms == 60_000  # the median spacing


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 400),
    fast=st.integers(1, 20),
    extra=st.integers(1, 60),
    seed=st.integers(0, 2**16),
    flat=st.booleans(),
)
def test_ma_crossover_decides_exactly_as_its_two_smas(
    n: int, fast: int, extra: int, seed: int, flat: bool
) -> None:
    """One cumsum for both averages gives the very decisions of the ``sma`` formulation."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    if flat:
        close = np.round(close, 0)  # flat runs: fast == slow ties
    slow = fast + extra
    zeros = np.zeros(n)
    arr = CandleArrays(60_000 * np.arange(n, dtype=np.int64), close, close, close, close, zeros)
    f, s = sma(close, fast), sma(close, slow)
    above, below, defined = f > s, f < s, ~np.isnan(s)
    prev = lambda a: np.concatenate(([False], a[:-1]))  # noqa: E731
    entries, exits = MaCrossover(fast, slow)(arr)
    np.testing.assert_array_equal(entries, above & ~prev(above) & prev(defined))
    np.testing.assert_array_equal(exits, below & ~prev(below) & prev(defined))


def test_target_arrays_and_signal_arrays_simulate_alike() -> None:
    """``simulate_targets`` (1 long, 0 flat, NaN keep) is the lane on the same decisions."""
    from quantops_trading.backtest import simulate_targets

    arr = candle_arrays(BARS)
    entries, exits = MaCrossover(10, 30)(arr)
    target = np.full(len(arr), np.nan)
    target[entries], target[exits] = 1.0, 0.0
    for phi in (1.0, 0.4):
        cfg = BacktestConfig(fee_rate=0.001, slippage_bps=2.0, size_fraction=phi)
        run = simulate_targets(arr.open, arr.close, target, cfg)
        res = run_candle(MaCrossover(10, 30), BARS, cfg)
        np.testing.assert_array_equal(run.equity, res.equity)
        assert run.buy_idx.tolist() == [o.bar for o in res.orders if o.side == "buy"]
        assert run.fees == res.fees_paid and run.notional / cfg.init_cash == res.turnover


def test_building_orders_leaves_the_garbage_collector_as_it_found_it() -> None:
    run_candle(MaCrossover(10, 30), BARS, BacktestConfig())
    assert gc.isenabled()
    gc.disable()
    try:
        assert run_candle(MaCrossover(10, 30), BARS, BacktestConfig()).orders
        assert not gc.isenabled()
    finally:
        gc.enable()
