"""39: regimes from the rolling features of real bars, causal (truncation), with per-regime weights."""

from __future__ import annotations

import polars as pl
import pytest
from strat_support import ETH_BTC_1M, candles

from quantops_trading.features import rolling_features
from quantops_trading.signals import DEFAULT_WEIGHTS, Regime, RegimeConfig, detect_regimes


def _features(df: pl.DataFrame) -> pl.DataFrame:
    return rolling_features(df.select("ts_ms", "open", "high", "low", "close", "volume"), window=20)


def test_sig_regimes_on_real_bars_have_their_defining_properties() -> None:
    r = detect_regimes(_features(candles(ETH_BTC_1M)))
    counts = dict(r["regime"].value_counts().iter_rows())
    assert {"trend", "range", "high_vol"} <= set(counts) and counts["range"] > counts["trend"]
    trend = r.filter(pl.col("regime") == "trend")
    assert (trend["efficiency"] >= 0.3).all() and (trend["rv"] <= trend["rv_threshold"]).all()
    assert (
        r.filter(pl.col("regime") == "high_vol").select(pl.col("rv") > pl.col("rv_threshold")).to_series()
    ).all()
    assert (r.filter(pl.col("regime") == "range")["efficiency"] < 0.3).all()


@pytest.mark.parametrize("frac", [0.25, 0.6])
def test_sig_regime_truncation(frac: float) -> None:
    feats = _features(candles(ETH_BTC_1M))
    cut = feats["ts_ms"][int(feats.height * frac)]
    full = detect_regimes(feats).filter(pl.col("ts_ms") <= cut)
    part = detect_regimes(_features(candles(ETH_BTC_1M).filter(pl.col("ts_ms") <= cut)))
    assert full.select("ts_ms", "regime", "efficiency").equals(part.select("ts_ms", "regime", "efficiency"))
    assert full["regime"].null_count() < full.height


def test_sig_regime_weights_and_config() -> None:
    assert (
        DEFAULT_WEIGHTS.for_regime(Regime.TREND)["momentum"]
        > DEFAULT_WEIGHTS.for_regime("trend")["mean_reversion"]
    )
    assert (
        DEFAULT_WEIGHTS.for_regime("range")["mean_reversion"]
        > DEFAULT_WEIGHTS.for_regime("range")["momentum"]
    )
    assert DEFAULT_WEIGHTS.for_regime(None) == DEFAULT_WEIGHTS.high_vol
    loose = detect_regimes(_features(candles(ETH_BTC_1M)), RegimeConfig(trend_efficiency=0.1))
    assert loose.filter(pl.col("regime") == "trend").height > 616
    with pytest.raises(ValueError, match="rv"):
        detect_regimes(candles(ETH_BTC_1M))
