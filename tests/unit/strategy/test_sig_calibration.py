"""43: confidence calibration by regime and spread bucket: fitted on earlier real data, judged on later."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from strat_support import FXCM_GBPUSD

from quantops_trading.data import data_file, read_raw
from quantops_trading.features import rolling_features
from quantops_trading.signals import (
    BucketedCalibrator,
    ECETracker,
    IsotonicCalibrator,
    PlattCalibrator,
    detect_regimes,
    expected_calibration_error,
    reliability_curve,
)
from quantops_trading.strategies import Momentum
from quantops_trading.strategy import Bar, Signal

H = 15  # evaluation horizon, bars


def _dataset() -> pl.DataFrame:
    """Momentum signals on real GBP/USD mid bars with the real spread, regime and realised outcome."""
    fx = read_raw(data_file(FXCM_GBPUSD)).with_columns(
        pl.all().exclude("ts_ms").cast(pl.Float64), pl.col("ts_ms").cast(pl.Int64)
    )
    fx = fx.sort("ts_ms").with_columns(
        ((pl.col("close") + pl.col("ask_close")) / 2).alias("mid"),
        ((pl.col("ask_close") / pl.col("close") - 1) * 1e4).alias("spread_bps"),
        pl.lit(1.0).alias("volume"),
    )
    feats = detect_regimes(
        rolling_features(
            fx.select("ts_ms", "open", "high", "low", pl.col("mid").alias("close"), "volume"), window=20
        )
    )
    strat = Momentum(Momentum.Params(fast=5, slow=30, threshold=0.0001))
    rows = []
    mids = fx["mid"].to_list()
    for i, (ts, m) in enumerate(zip(fx["ts_ms"].to_list(), mids, strict=True)):
        for s in strat.on_bar(Bar("GBP/USD@fxcm", ts, m, m, m, m, 1.0)):
            if isinstance(s, Signal) and s.value != 0 and i + H < len(mids):
                rows.append((ts, i, s.confidence, s.value * (mids[i + H] - m) > 0))
    sig = pl.DataFrame(rows, schema=["ts_ms", "i", "score", "win"], orient="row")
    return (
        sig.join(fx.select("ts_ms", "spread_bps"), on="ts_ms")
        .join(feats.select("ts_ms", "regime"), on="ts_ms")
        .with_columns(pl.col("regime").fill_null("warmup"))
    )


@pytest.fixture(scope="module")
def split() -> tuple[pl.DataFrame, pl.DataFrame]:
    data = _dataset()
    cut = int(data.height * 0.6)
    # the held-back part starts H bars after the last fitted signal's outcome was known
    fit = data.head(cut)
    test = data.filter(pl.col("i") > int(fit["i"].to_numpy().max()) + H)
    return fit, test


def test_sig_calibration_improves_ece_on_held_back_real_data(
    split: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    fit, test = split
    assert fit.height > 2000 and test.height > 1000
    y_fit, y_test = fit["win"].cast(pl.Float64).to_numpy(), test["win"].cast(pl.Float64).to_numpy()
    raw = expected_calibration_error(test["score"].to_numpy(), y_test)
    for method in ("isotonic", "platt"):
        cal = BucketedCalibrator(method=method, min_samples=300).fit(
            fit["score"].to_numpy(), y_fit, fit["regime"].to_list(), fit["spread_bps"].to_numpy()
        )
        assert cal.models, "no (regime, spread bucket) had enough samples"
        p = cal.predict(test["score"].to_numpy(), test["regime"].to_list(), test["spread_bps"].to_numpy())
        calibrated = expected_calibration_error(p, y_test)
        assert calibrated < raw / 2, (method, raw, calibrated)


def test_sig_ece_tracked_over_time(split: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    fit, test = split
    iso = IsotonicCalibrator.fit(fit["score"].to_numpy(), fit["win"].cast(pl.Float64).to_numpy())
    raw_t, cal_t = ECETracker(), ECETracker()
    for ts, score, win in test.select("ts_ms", "score", "win").iter_rows():
        raw_t.add(ts, score, win)
        cal_t.add(ts, float(iso.predict([score])[0]), win)
    day = 86_400_000
    raw_s, cal_s = raw_t.series(day), cal_t.series(day)
    assert len(raw_s) >= 5 and [t for t, _, _ in raw_s] == [t for t, _, _ in cal_s]
    assert np.mean([e for _, e, _ in cal_s]) < np.mean([e for _, e, _ in raw_s])


def test_sig_calibrators_on_known_truth() -> None:
    rng = np.random.default_rng(7)
    s = rng.normal(size=20_000)
    y = (rng.random(s.size) < 1 / (1 + np.exp(-(2 * s - 0.5)))).astype(float)
    platt = PlattCalibrator.fit(s[:10_000], y[:10_000])
    assert platt.a == pytest.approx(-2.0, abs=0.15) and platt.b == pytest.approx(0.5, abs=0.1)
    iso = IsotonicCalibrator.fit(s[:10_000], y[:10_000])
    assert np.all(np.diff(iso.y) >= 0)
    assert expected_calibration_error(iso.predict(s[10_000:]), y[10_000:]) < 0.03
    assert expected_calibration_error(platt.predict(s[10_000:]), y[10_000:]) < 0.02
    curve = reliability_curve(platt.predict(s[10_000:]), y[10_000:])
    used = curve.counts > 100
    assert np.allclose(curve.mean_predicted[used], curve.observed[used], atol=0.05)
    assert expected_calibration_error([0.9] * 10, [0] * 10) == pytest.approx(0.9)
