"""Multi-horizon features (roadmap 36): right labels, no look-ahead, pandas-equivalent, trades→candles."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import numpy as np
import polars as pl
import pytest

from quantops_trading.data.lineage import lineage_of_row
from quantops_trading.data.loaders import load_feed
from quantops_trading.features.bars import candles_from_trades, resample
from quantops_trading.features.rolling import FEATURE_COLUMNS, multi_horizon_features
from quantops_trading.paths import repo_root

XRP_1M = "candles/binance_XRP-ETH_1m_2019-10-11_2019-10-13.csv.gz"
ETH_1M = "candles/bittrex_ETH-BTC_1m_2018-01-20_2018-01-30.csv.gz"
ETH_5M = "candles/bittrex_ETH-BTC_5m_2018-01-10_2018-01-30.csv.gz"
XRP_TRADES = "trades/binance_XRP-ETH_trades_2019-10-11_2019-10-13.csv.gz"
BITTREX_1M = [
    "candles/bittrex_ETH-BTC_1m_2018-01-20_2018-01-30.csv.gz",
    "candles/bittrex_LTC-BTC_1m_2018-01-20_2018-01-30.csv.gz",
    "candles/bittrex_DASH-BTC_1m_2018-01-20_2018-01-30.csv.gz",
]


def _bench() -> ModuleType:
    path = repo_root() / "benchmarks" / "bench_features.py"
    spec = importlib.util.spec_from_file_location("bench_features", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_features"] = module
    spec.loader.exec_module(module)
    return module


def _many_pairs() -> pl.DataFrame:
    return pl.concat([load_feed(p, "candles", ingest_ts_ns=1).frame for p in BITTREX_1M], how="diagonal")


def test_5m_from_1m_matches_the_venue_5m_file_right_labelled() -> None:
    one = load_feed(ETH_1M, "candles").frame  # README: Bittrex 1m aggregate exactly into its 5m
    five = load_feed(ETH_5M, "candles").frame
    ours = resample(one.lazy(), "5m").filter(pl.col("n_bars") == 5)
    venue = five.with_columns(pl.col("ts_ms") + 300_000)  # venue labels by open time
    joined = ours.join(venue, on="ts_ms", suffix="_v")
    assert joined.height == ours.height > 2800
    for col in ("open", "high", "low", "close"):
        assert (joined[col] == joined[f"{col}_v"]).all(), col
    assert np.allclose(joined["volume"], joined["volume_v"], rtol=1e-9)
    first_open, last_open = one["ts_ms"][0], one["ts_ms"][-1]
    labels = resample(one, "5m")["ts_ms"]
    assert labels[0] == first_open // 300_000 * 300_000 + 300_000  # labelled by close time
    assert labels[-1] > last_open  # the (partial) last bucket is labelled in the future


def test_no_look_ahead_by_truncation() -> None:
    bars = _many_pairs()
    full = multi_horizon_features(bars, window=10, rsi_window=7)
    t0 = int(bars["ts_ms"].min())
    for t in [t0 + 3 * 86_400_000 + 37 * 60_000, t0 + 6 * 86_400_000 + 3_600_000]:
        truncated = bars.filter(pl.col("ts_ms") + 60_000 <= t)  # only 1m bars closed by t
        part = multi_horizon_features(truncated, window=10, rsi_window=7)
        cols = ["horizon", "pair", "ts_ms", "open", "close", "volume", *FEATURE_COLUMNS]
        a = full.filter(pl.col("ts_ms") <= t).select(cols).sort("horizon", "pair", "ts_ms")
        b = part.filter(pl.col("ts_ms") <= t).select(cols).sort("horizon", "pair", "ts_ms")
        assert a.height > 1000 and a.equals(b)
        # and the future really differs: the feature engine is not constant
        assert full.filter(pl.col("ts_ms") > t).height > 0


def test_features_equal_the_pandas_reference() -> None:
    bench = _bench()
    data = bench.synthetic_bars(3, 5_000, seed=3)
    ours = multi_horizon_features(data.lazy(), window=bench.WINDOW, rsi_window=bench.RSI_WINDOW)
    ref = pl.from_pandas(bench.pandas_features(data.to_pandas()))
    ours = ours.sort("horizon", "pair", "ts_ms")
    ref = ref.sort("horizon", "pair", "ts_ms")
    assert ours.height == ref.height
    assert (ours["ts_ms"] == ref["ts_ms"]).all() and (ours["n_bars"] == ref["n_bars"].cast(pl.Int32)).all()
    for col in ("open", "high", "low", "close", "volume", *FEATURE_COLUMNS):
        a, b = ours[col].to_numpy(), ref[col].to_numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b)), col
        assert np.allclose(a, b, rtol=1e-7, atol=1e-9, equal_nan=True), col


def test_features_carry_lineage_into_a_signal_dict() -> None:
    feats = multi_horizon_features(load_feed(XRP_1M, "candles", ingest_ts_ns=123).frame)
    row = feats.filter(pl.col("horizon") == "15m").row(40, named=True)
    lineage = lineage_of_row(row)
    assert lineage["stream"] == "binance_XRP-ETH_1m_2019-10-11_2019-10-13.csv.gz"
    assert lineage["venue"] == "binance" and lineage["ingest_ts_ns"] == 123
    assert lineage["transforms"] == "schema_check@1|resample_15m@1"
    assert set(feats["horizon"].unique()) == {"1m", "5m", "15m", "1h"}
    rsi = feats["rsi"].drop_nans().drop_nulls()
    assert rsi.min() >= 0 and rsi.max() <= 100


def test_trades_aggregate_exactly_into_the_non_empty_1m_candles() -> None:
    trades = load_feed(XRP_TRADES, "trades").frame
    candles = load_feed(XRP_1M, "candles").frame.filter(pl.col("volume") > 0)
    ours = candles_from_trades(trades.sample(fraction=1.0, shuffle=True, seed=1))
    assert ours.height == candles.height == 2469
    joined = ours.join(candles, on="ts_ms", how="inner", suffix="_c")
    assert joined.height == 2469
    for col in ("open", "high", "low", "close", "volume"):
        assert (joined[col] == joined[f"{col}_c"]).all(), col


def test_bad_inputs_fail_clearly() -> None:
    with pytest.raises(ValueError, match="unknown horizon"):
        resample(pl.LazyFrame({"pair": ["a"]}), "2m")
    with pytest.raises(ValueError, match="missing columns"):
        resample(pl.LazyFrame({"pair": ["a"], "ts_ms": [0]}), "5m")
    with pytest.raises(ValueError, match="window"):
        multi_horizon_features(load_feed(XRP_1M, "candles").frame, window=1)
