"""Multi-horizon bars from 1-minute data, right-labelled, with no look-ahead (roadmap 36).

Why it exists: strategies read 1m, 5m, 15m and 1h bars of many pairs at once, and a feature at
time ``t`` must only use data known at ``t``. Input bars carry their **open** time in ``ts_ms``
(as the data files do); a 1m bar is only known at its close, so every output bar is labelled by
its **close** time: the 5m bar built from 1m bars opening in ``[T, T+5m)`` is labelled ``T+5m``.
Volumes are summed sequentially, so a bar's value is bit-identical however much later data the
frame holds. A partial bucket at the end of the data is labelled in the future (its close), so it
can never be mistaken for a closed bar at any earlier ``t``; ``n_bars`` tells how many 1m bars it holds.

Input preparation (column checks, dropping unfilled gap rows, one sort by pair and time for all
horizons) is one lazy polars plan over a long frame with a ``pair`` column; the bucket
aggregation itself is a numba kernel over the sorted columns (a hash ``group_by`` over 5M rows
per horizon was the bottleneck, ~4x slower, and its parallel float sums were not bit-stable).
:func:`candles_from_trades` aggregates trades the same way (open-labelled,
like exchange candles) for consistency checks against venue candles.

What it must not do: compute rolling indicators (``features/rolling.py``) or fill gaps
(``data/gaps.py``): a missing 1m bar simply contributes nothing to its bucket.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt
import polars as pl

from quantops_trading.model.lineage import LINEAGE_COLUMNS

__all__ = [
    "HORIZONS_MS",
    "candles_from_trades",
    "pair_starts",
    "prepare_1m",
    "resample",
    "resample_kernel",
    "resample_multi",
    "resample_sorted",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
HORIZONS_MS: dict[str, int] = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}


@numba.njit(cache=True, nogil=True)
def resample_kernel(
    starts: I64, ts: I64, o: F64, h: F64, lo: F64, c: F64, v: F64, step: int
) -> tuple[I64, F64, F64, F64, F64, F64, npt.NDArray[np.int32], I64]:
    """Aggregate sorted 1m bars (series ``[starts[k], starts[k+1])``) into right-labelled buckets.

    Returns ``label, open, high, low, close, volume, n_bars, last_row`` per bucket, in input order.
    Volume is summed sequentially, so a bucket's value never depends on later rows.
    """
    count = 0
    for g in range(starts.shape[0] - 1):
        prev = np.int64(-1)
        for i in range(starts[g], starts[g + 1]):
            lab = (ts[i] // step) * step + step
            if i == starts[g] or lab != prev:
                count += 1
                prev = lab
    label = np.empty(count, np.int64)
    oo = np.empty(count)
    hh = np.empty(count)
    ll = np.empty(count)
    cc = np.empty(count)
    vv = np.empty(count)
    nn = np.empty(count, np.int32)
    last = np.empty(count, np.int64)
    k = -1
    for g in range(starts.shape[0] - 1):
        prev = np.int64(-1)
        for i in range(starts[g], starts[g + 1]):
            lab = (ts[i] // step) * step + step
            if i == starts[g] or lab != prev:
                k += 1
                prev = lab
                label[k] = lab
                oo[k] = o[i]
                hh[k] = h[i]
                ll[k] = lo[i]
                vv[k] = 0.0
                nn[k] = 0
            hh[k] = max(hh[k], h[i])
            ll[k] = min(ll[k], lo[i])
            cc[k] = c[i]
            vv[k] += v[i]
            nn[k] += 1
            last[k] = i
    return label, oo, hh, ll, cc, vv, nn, last


def prepare_1m(bars_1m: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """One lazy plan: check columns, drop unfilled gap rows (null close), sort by pair and time."""
    lf = bars_1m.lazy()
    names = lf.collect_schema().names()
    missing = [c for c in ("pair", "ts_ms", "open", "high", "low", "close", "volume") if c not in names]
    if missing:
        raise ValueError(f"resample: missing columns {missing}")
    keep = ["pair", "ts_ms", "open", "high", "low", "close", "volume"]
    keep += [c for c in LINEAGE_COLUMNS if c in names]
    df = (
        lf.select(keep)
        .with_columns(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close", "volume"))
        .collect()
    )
    if df["close"].null_count():
        df = df.filter(pl.col("close").is_not_null())
    # Feeds arrive sorted: checking is O(n) and copies nothing, sorting 5M rows copies them all.
    return df if sorted_by_pair_time(df) else df.sort("pair", "ts_ms", maintain_order=True)


def sorted_by_pair_time(df: pl.DataFrame) -> bool:
    """Rows already in (pair, ts_ms) order with strictly increasing time inside each pair.

    When true, ``sort("pair", "ts_ms", maintain_order=True)`` would return the same rows in the
    same order, so skipping it changes nothing but the copy.
    """
    if df.height < 2:
        return True
    pair, ts = df["pair"], df["ts_ms"]
    same = (pair == pair.shift(1)).fill_null(False)
    ok = (same & (ts > ts.shift(1)).fill_null(True)) | (~same & (pair > pair.shift(1)).fill_null(True))
    return bool(ok.all())


def pair_starts(pairs: pl.Series) -> I64:
    """Offsets where each run of equal ``pair`` values starts, plus the end offset."""
    if pairs.is_empty():
        return np.zeros(1, np.int64)
    flags = (pairs != pairs.shift(1)).fill_null(True).to_numpy()
    return np.append(np.flatnonzero(flags).astype(np.int64), np.int64(pairs.len()))


def resample_sorted(df: pl.DataFrame, starts: I64, horizon: str) -> pl.DataFrame:
    """Resample a :func:`prepare_1m` frame whose pair runs start at ``starts``."""
    if horizon not in HORIZONS_MS:
        raise ValueError(f"unknown horizon {horizon!r}; expected one of {sorted(HORIZONS_MS)}")
    o_in, h_in, l_in, c_in, v_in = (df[c].to_numpy() for c in ("open", "high", "low", "close", "volume"))
    label, o, h, lo, c, v, n, last = resample_kernel(
        starts, df["ts_ms"].to_numpy(), o_in, h_in, l_in, c_in, v_in, HORIZONS_MS[horizon]
    )
    carried = df.select(["pair", *[x for x in LINEAGE_COLUMNS if x in df.columns]])
    if label.shape[0] != df.height:  # one bucket per input row (1m → 1m) needs no gather
        carried = carried[last]
    out = pl.DataFrame(
        {"ts_ms": label, "open": o, "high": h, "low": lo, "close": c, "volume": v, "n_bars": n}
    )
    out = pl.concat([carried.select("pair"), out, carried.drop("pair")], how="horizontal")
    out = out.with_columns(pl.lit(horizon).alias("horizon"))
    if "lineage_transforms" in out.columns:
        out = out.with_columns(pl.col("lineage_transforms") + pl.lit(f"|resample_{horizon}@1"))
    cols = ["pair", "horizon", "ts_ms", "open", "high", "low", "close", "volume", "n_bars"]
    return out.select(cols + [x for x in LINEAGE_COLUMNS if x in out.columns])


def resample(bars_1m: pl.LazyFrame | pl.DataFrame, horizon: str) -> pl.DataFrame:
    """Right-labelled OHLCV bars of ``horizon`` from open-labelled 1m bars (long frame, ``pair``).

    Output: ``pair, horizon, ts_ms`` (close time), ``open, high, low, close, volume, n_bars``
    (+ lineage columns of the bucket's last row, with ``resample_<h>@1`` appended).
    """
    if horizon not in HORIZONS_MS:
        raise ValueError(f"unknown horizon {horizon!r}; expected one of {sorted(HORIZONS_MS)}")
    df = prepare_1m(bars_1m)
    return resample_sorted(df, pair_starts(df["pair"]), horizon)


def resample_multi(
    bars_1m: pl.LazyFrame | pl.DataFrame, horizons: tuple[str, ...] = tuple(HORIZONS_MS)
) -> pl.DataFrame:
    """All ``horizons`` stacked (grouped by horizon, then pair, then time): one sort for all."""
    df = prepare_1m(bars_1m)
    starts = pair_starts(df["pair"])
    return pl.concat([resample_sorted(df, starts, h) for h in horizons], how="vertical")


def candles_from_trades(trades: pl.LazyFrame | pl.DataFrame, interval_ms: int = 60_000) -> pl.DataFrame:
    """Open-labelled OHLCV candles from trades (``ts_ms, price, amount``), in trade order.

    Trades are ordered by ``ts_ms`` then ``trade_id`` (numeric when it is) so the open and close
    are the first and last trade of the bucket; only non-empty buckets are emitted.
    """
    lf = trades.lazy()
    names = lf.collect_schema().names()
    keys = ["ts_ms"] + (["__tid"] if "trade_id" in names else [])
    if "trade_id" in names:
        lf = lf.with_columns(pl.col("trade_id").cast(pl.Int64, strict=False).alias("__tid"))
    return (
        lf.sort(keys, maintain_order=True)
        .with_columns(((pl.col("ts_ms") // interval_ms) * interval_ms).alias("__bucket"))
        .group_by("__bucket", maintain_order=True)
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("amount").sum().alias("volume"),
            pl.len().alias("trades"),
        )
        .rename({"__bucket": "ts_ms"})
        .sort("ts_ms")
        .collect()
    )
