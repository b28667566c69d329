"""Benchmark: multi-horizon features (polars resampling + numba rolling kernel) vs pandas.

Why it exists: roadmap 36 targets >= 3x pandas and < 2 GB peak on 20 pairs x 250k one-minute bars.
Both implementations run in this process on the same synthetic random walk; the pandas one is
the reference the unit tests check the library against (``pandas_features``), so the speed-up is
measured between implementations that are proven equivalent.

Usage: ``.venv/bin/python benchmarks/bench_features.py [--pairs 20] [--bars 250000]``; prints JSON.
Peak memory is the process max RSS after each step (polars first, then pandas), so the polars
figure is not inflated by pandas.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from quantops_trading.features.bars import HORIZONS_MS
from quantops_trading.features.rolling import multi_horizon_features

WINDOW, RSI_WINDOW = 20, 14


def synthetic_bars(pairs: int, bars: int, seed: int = 42) -> pl.DataFrame:
    """A long frame of 1m random-walk OHLCV bars (open-labelled ``ts_ms``) for ``pairs`` pairs."""
    rng = np.random.default_rng(seed)
    start = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000
    frames = []
    for p in range(pairs):
        steps = rng.normal(0.0, 0.001, bars)
        close = 100.0 * (1 + p) * np.exp(np.cumsum(steps))
        open_ = np.concatenate([[close[0]], close[:-1]])
        spread = np.abs(rng.normal(0.0, 0.0005, bars)) * close
        frames.append(
            pl.DataFrame(
                {
                    "pair": np.full(bars, f"P{p:02d}/USDT@sim"),
                    "ts_ms": start + 60_000 * np.arange(bars, dtype=np.int64),
                    "open": open_,
                    "high": np.maximum(open_, close) + spread,
                    "low": np.minimum(open_, close) - spread,
                    "close": close,
                    "volume": rng.gamma(2.0, 5.0, bars) + 0.01,
                }
            )
        )
    return pl.concat(frames)


def pandas_features(df: pd.DataFrame, horizons: tuple[str, ...] = tuple(HORIZONS_MS)) -> pd.DataFrame:
    """The same features in idiomatic pandas (groupby + resample buckets + groupby-rolling)."""
    out = []
    for h in horizons:
        step = HORIZONS_MS[h]
        bucket = (df["ts_ms"] // step) * step + step
        bars = (
            df.assign(label=bucket)
            .sort_values(["pair", "ts_ms"], kind="stable")
            .groupby(["pair", "label"], sort=True)
            .agg(
                open=("open", "first"),
                high=("high", "max"),
                low=("low", "min"),
                close=("close", "last"),
                volume=("volume", "sum"),
                n_bars=("close", "size"),
            )
            .reset_index()
            .rename(columns={"label": "ts_ms"})
        )
        g = bars.groupby("pair", sort=False)
        ret = np.log(bars["close"]).groupby(bars["pair"]).diff()
        bars["ret"] = ret
        bars["rv"] = ret.groupby(bars["pair"]).rolling(WINDOW).std().reset_index(level=0, drop=True)
        d = g["close"].diff()
        gain = (
            d.clip(lower=0).groupby(bars["pair"]).rolling(RSI_WINDOW).mean().reset_index(level=0, drop=True)
        )
        loss = (
            (-d.clip(upper=0))
            .groupby(bars["pair"])
            .rolling(RSI_WINDOW)
            .mean()
            .reset_index(level=0, drop=True)
        )
        bars["rsi"] = 100.0 - 100.0 / (1.0 + gain / loss)
        mean = g["close"].rolling(WINDOW).mean().reset_index(level=0, drop=True)
        std = g["close"].rolling(WINDOW).std().reset_index(level=0, drop=True)
        bars["zscore"] = (bars["close"] - mean) / std
        vmean = g["volume"].rolling(WINDOW).mean().reset_index(level=0, drop=True)
        bars["vol_ratio"] = bars["volume"] / vmean
        bars.insert(1, "horizon", h)
        out.append(bars)
    return pd.concat(out, ignore_index=True)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--bars", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    multi_horizon_features(synthetic_bars(1, 500))  # numba JIT / cache load, not timed below
    warmup_s = time.perf_counter() - t0
    data = synthetic_bars(args.pairs, args.bars)
    rss_data = _rss_mb()
    pl_times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        feats = multi_horizon_features(data.lazy())
        pl_times.append(time.perf_counter() - t0)
    rss_polars = _rss_mb()
    result: dict[str, Any] = {
        "benchmark": "features",
        "pairs": args.pairs,
        "bars_per_pair": args.bars,
        "input_rows": data.height,
        "output_rows": feats.height,
        "horizons": list(HORIZONS_MS),
        "warmup_jit_s": round(warmup_s, 3),
        "polars_numba_s": round(min(pl_times), 3),
        "peak_rss_mb_after_polars": round(rss_polars, 1),
        "rss_mb_input_only": round(rss_data, 1),
    }
    if not args.skip_pandas:
        pdf = data.to_pandas()
        pd_times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            ref = pandas_features(pdf)
            pd_times.append(time.perf_counter() - t0)
        result["pandas_s"] = round(min(pd_times), 3)
        result["peak_rss_mb_after_pandas"] = round(_rss_mb(), 1)
        result["speedup_vs_pandas"] = round(min(pd_times) / min(pl_times), 2)
        a = feats.sort("horizon", "pair", "ts_ms")["rv"].to_numpy()
        b = ref.sort_values(["horizon", "pair", "ts_ms"])["rv"].to_numpy()
        result["max_abs_diff_rv"] = float(np.nanmax(np.abs(a - b)))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
