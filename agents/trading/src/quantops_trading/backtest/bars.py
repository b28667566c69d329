"""Candle input of the backtest lanes: validated numpy columns, and bars built from an L2 stream.

Why it exists: a vectorised lane must not discover a NaN or a text column in the middle of a
cumulative product; every column is checked once, up front, and a bad one is named with its first
offending row. :func:`bars_from_book` turns the non-candle lane's L2 stream into the candles the
candle lane runs on, so the two lanes can be compared on the very same data.

What it must not do: repair data (gap filling, outlier removal are ``data/`` steps).
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @property
    def bar_ms(self) -> int:
        """The typical bar length (median spacing; 60 000 when there is a single bar)."""
        if len(self) < 2:
            return 60_000
        return int(np.median(np.diff(self.ts_ms)))


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


def candle_arrays(bars: pl.DataFrame) -> CandleArrays:
    """Check ``bars`` (ts_ms, open, high, low, close[, volume]) and return its numpy columns."""
    if not isinstance(bars, pl.DataFrame):
        raise TypeError(f"bars: expected a polars DataFrame, got {type(bars).__name__}")
    for name in CANDLE_COLUMNS:
        if name not in bars.columns:
            raise ValueError(f"bars: missing column {name!r} (have {bars.columns})")
    if bars.height == 0:
        raise ValueError("bars: no rows")
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
