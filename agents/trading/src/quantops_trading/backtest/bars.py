"""Candle input of the backtest lanes: validated numpy columns, and bars built from an L2 stream.

Why it exists: a vectorised lane must not discover a NaN or a text column in the middle of a
cumulative product; every column is checked once, up front, and a bad one is named with its first
offending row. :func:`bars_from_book` turns the non-candle lane's L2 stream into the candles the
candle lane runs on, so the two lanes can be compared on the very same data.

What it must not do: repair data (gap filling, outlier removal are ``data/`` steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
import polars as pl

from quantops_trading.backtest.types import FloatArray

__all__ = ["CANDLE_COLUMNS", "CandleArrays", "bars_from_book", "candle_arrays"]

CANDLE_COLUMNS = ("ts_ms", "open", "high", "low", "close")
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CandleArrays:
    """Checked OHLCV columns; ``ts_ms`` is each bar's open time, strictly increasing."""

    ts_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    even_bar_ms: int = 0  # the spacing when every bar has the same (found while checking), else 0

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @property
    def bar_ms(self) -> int:
        """The typical bar length (median spacing; 60 000 when there is a single bar)."""
        if self.even_bar_ms:
            return self.even_bar_ms
        if len(self) < 2:
            return 60_000
        step = np.diff(self.ts_ms)
        lo = int(step.min())
        return lo if lo == int(step.max()) else int(np.median(step))


def _first_bad(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _float_column(frame: pl.DataFrame, name: str) -> FloatArray:
    s = frame.get_column(name)
    try:
        s = s.cast(pl.Float64, strict=True)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as e:
        raise ValueError(f"bars.{name}: not numeric ({frame.schema[name]}): {e}") from e
    if s.null_count():
        raise ValueError(f"bars.{name}: null at row {_first_bad(s.is_null().to_numpy())}")
    out = s.to_numpy().astype(np.float64, copy=False)
    bad = ~np.isfinite(out)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"bars.{name}: non-finite value {out[i]} at row {i}")
    return out


_CHUNK = 1 << 16  # rows per scan step: every column's slice of it stays in cache for all its checks


def _own_column(bars: pl.DataFrame, name: str, dtype: type[pl.DataType]) -> npt.NDArray[np.generic] | None:
    """The column's own buffer when it already has ``dtype`` and no nulls (else None: slow path)."""
    s = bars.get_column(name)
    return s.to_numpy() if s.dtype == dtype and not s.null_count() else None


def _fast(bars: pl.DataFrame) -> CandleArrays | None:
    """The columns when every check passes, in one chunked pass; None when anything needs a closer look."""
    ts = _own_column(bars, "ts_ms", pl.Int64)
    prices = [_own_column(bars, name, pl.Float64) for name in CANDLE_COLUMNS[1:]]
    has_volume = "volume" in bars.columns
    volume = _own_column(bars, "volume", pl.Float64) if has_volume else np.zeros(bars.height)
    if ts is None or volume is None or any(p is None for p in prices):
        return None
    o, h, lo, c = cast(list[FloatArray], prices)
    n, step_lo, step_hi = ts.shape[0], np.inf, -np.inf
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        if b - max(a - 1, 0) > 1:
            step = np.diff(ts[max(a - 1, 0) : b])
            step_lo, step_hi = min(step_lo, step.min()), max(step_hi, step.max())
        # min > 0 also fails on NaN (the min is NaN); max < inf catches +inf
        if not all(p[a:b].min() > 0.0 and p[a:b].max() < np.inf for p in (o, h, lo, c)):
            return None
        if (h[a:b] < lo[a:b]).any() or (has_volume and not np.isfinite(np.add.reduce(volume[a:b]))):
            return None
    if step_lo <= 0:
        return None
    bar_ms = int(step_lo) if step_lo == step_hi else 0  # 0: not evenly spaced, the median is computed
    return CandleArrays(cast(IntArray, ts), o, h, lo, c, cast(FloatArray, volume), bar_ms)


def candle_arrays(bars: pl.DataFrame) -> CandleArrays:
    """Check ``bars`` (ts_ms, open, high, low, close[, volume]) and return its numpy columns.

    Float64/Int64 columns without nulls are used in place (no copies) and checked in one pass
    over cache-sized chunks; anything else (other dtypes, nulls, a failed check) goes through the
    column-by-column checks, which convert, and name the first offending row.
    """
    if not isinstance(bars, pl.DataFrame):
        raise TypeError(f"bars: expected a polars DataFrame, got {type(bars).__name__}")
    for name in CANDLE_COLUMNS:
        if name not in bars.columns:
            raise ValueError(f"bars: missing column {name!r} (have {bars.columns})")
    if bars.height == 0:
        raise ValueError("bars: no rows")
    fast = _fast(bars)
    return fast if fast is not None else _checked_in_order(bars)


def _checked_in_order(bars: pl.DataFrame) -> CandleArrays:
    """Every check column by column, naming the first offending row (the order errors are raised in)."""
    ts_s = bars.get_column("ts_ms")
    try:
        ts_s = ts_s.cast(pl.Int64, strict=True)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as e:
        raise ValueError(f"bars.ts_ms: not integer milliseconds ({bars.schema['ts_ms']}): {e}") from e
    if ts_s.null_count():
        raise ValueError(f"bars.ts_ms: null at row {_first_bad(ts_s.is_null().to_numpy())}")
    ts = ts_s.to_numpy().astype(np.int64, copy=False)
    if ts.size > 1:
        step = np.diff(ts)
        if (step <= 0).any():
            i = _first_bad(step <= 0) + 1
            raise ValueError(f"bars.ts_ms: not strictly increasing at row {i} ({ts[i - 1]} → {ts[i]})")
    cols = {name: _float_column(bars, name) for name in CANDLE_COLUMNS[1:]}
    for name in ("open", "close", "high", "low"):
        bad = cols[name] <= 0
        if bad.any():
            i = _first_bad(bad)
            raise ValueError(f"bars.{name}: price must be > 0, got {cols[name][i]} at row {i}")
    inverted = cols["high"] < cols["low"]
    if inverted.any():
        i = _first_bad(inverted)
        raise ValueError(f"bars.high: below bars.low at row {i} ({cols['high'][i]} < {cols['low'][i]})")
    volume = _float_column(bars, "volume") if "volume" in bars.columns else np.zeros(ts.size)
    return CandleArrays(ts, cols["open"], cols["high"], cols["low"], cols["close"], volume)


def bars_from_book(events: pl.DataFrame, bar_ms: int) -> pl.DataFrame:
    """OHLC candles of the L2 mid price per ``bar_ms`` bucket (open-time labels, no empty bars).

    ``open`` is the first mid of the bucket, i.e. the book the non-candle lane trades against when
    it acts on the previous bar's close — the same instant the candle lane's next-bar-open fill uses.
    ``volume`` is the number of book updates in the bucket (an activity count; L2 has no traded volume).
    """
    for name in ("ts_ms", "bid_px_1", "ask_px_1"):
        if name not in events.columns:
            raise ValueError(f"events: missing column {name!r}")
    mid = (pl.col("bid_px_1").cast(pl.Float64) + pl.col("ask_px_1").cast(pl.Float64)) / 2
    return (
        events.lazy()
        .select(pl.col("ts_ms").cast(pl.Int64), mid.alias("mid"))
        .with_columns(((pl.col("ts_ms") // bar_ms) * bar_ms).alias("bucket"))
        .group_by("bucket", maintain_order=True)
        .agg(
            pl.col("mid").first().alias("open"),
            pl.col("mid").max().alias("high"),
            pl.col("mid").min().alias("low"),
            pl.col("mid").last().alias("close"),
            pl.len().cast(pl.Float64).alias("volume"),
        )
        .rename({"bucket": "ts_ms"})
        .collect()
    )
