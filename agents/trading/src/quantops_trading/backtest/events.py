"""The non-candle lane's input: an L2 update stream as checked numpy arrays, plus its helpers.

Why it exists: the event lane walks hundreds of thousands of book updates; converting the wide
``bid_px_i``/``bid_qty_i``/``ask_px_i``/``ask_qty_i`` frame once into the venue simulator's array
layout (and checking it once, naming the bad column and row) keeps the loop free of parsing.

What it must not do: decide or trade (``non_candle.py``, ``inprocess_venue.py``).
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
import polars as pl

from quantops_trading.backtest.types import FloatArray
from quantops_trading.strategy.base import BookSnapshot

__all__ = ["BookArrays", "bar_volume", "book_arrays", "book_snapshot"]

_LEVEL = re.compile(r"^(bid|ask)_(px|qty)_(\d+)$")


class BookArrays:
    """The L2 stream: ``ts_ms``, ``update_id`` and the top of book as numpy, the full depth lazily.

    ``levels_row(i)`` = [bid px, qty]×n then [ask px, qty]×n (the venue simulator's layout) of one
    update, read when an order needs it; ``levels`` converts the whole depth (n×4n floats — 640 MB
    for 1M top-20 updates) only for callers that walk every update's book.
    """

    __slots__ = ("_frame", "_levels", "best_ask", "best_bid", "depth", "ts_ms", "update_id")

    def __init__(
        self, ts_ms: npt.NDArray[np.int64], update_id: npt.NDArray[np.int64], frame: pl.DataFrame
    ) -> None:
        self.ts_ms, self.update_id, self._frame = ts_ms, update_id, frame
        self.depth = frame.width // 4
        self.best_bid: FloatArray = frame.get_column("bid_px_1").to_numpy()
        self.best_ask: FloatArray = frame.get_column("ask_px_1").to_numpy()
        self._levels: FloatArray | None = None

    @property
    def mid(self) -> FloatArray:
        return (self.best_bid + self.best_ask) / 2.0

    def levels_row(self, i: int) -> FloatArray:
        if self._levels is not None:
            row: FloatArray = self._levels[i]
            return row
        return np.asarray(self._frame.row(i), dtype=np.float64)

    @property
    def levels(self) -> FloatArray:
        if self._levels is None:
            self._levels = self._frame.to_numpy().astype(np.float64, copy=False)
        return self._levels


def book_arrays(events: pl.DataFrame) -> BookArrays:
    """Check an L2 frame and convert it; errors name the column and the first bad row."""
    if not isinstance(events, pl.DataFrame):
        raise TypeError(f"events: expected a polars DataFrame, got {type(events).__name__}")
    depth = 0
    for name in events.columns:
        m = _LEVEL.match(name)
        if m and m[1] == "bid" and m[2] == "px":
            depth = max(depth, int(m[3]))
    if depth == 0 or "ts_ms" not in events.columns:
        missing = "ts_ms" if "ts_ms" not in events.columns else "bid_px_1"
        raise ValueError(f"events: missing column {missing!r} (need ts_ms and bid/ask_px/qty_1..n)")
    if events.height == 0:
        raise ValueError("events: no rows")
    cols = [f"{s}_{k}_{i}" for s in ("bid", "ask") for i in range(1, depth + 1) for k in ("px", "qty")]
    for c in cols:
        if c not in events.columns:
            raise ValueError(f"events: missing column {c!r} (depth {depth} implied by bid_px_{depth})")
    try:
        num = events.select(pl.col(c).cast(pl.Float64, strict=True) for c in cols)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as e:
        raise ValueError(f"events: a book column is not numeric: {e}") from e
    for c in ("bid_px_1", "ask_px_1", "bid_qty_1", "ask_qty_1"):
        s = num.get_column(c)
        bad = s.is_null() | ~s.is_finite() | (s <= 0)
        if bad.any():
            i = int(bad.arg_true()[0])
            raise ValueError(f"events.{c}: missing or non-positive at row {i} ({s[i]!r})")
    levels = num.fill_null(0.0).fill_nan(0.0)
    try:
        ts = events.get_column("ts_ms").cast(pl.Int64, strict=True).to_numpy()
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as e:
        raise ValueError(f"events.ts_ms: not integer milliseconds: {e}") from e
    if ts.size > 1 and (np.diff(ts) < 0).any():
        i = int(np.flatnonzero(np.diff(ts) < 0)[0]) + 1
        raise ValueError(f"events.ts_ms: goes backwards at row {i} ({ts[i - 1]} → {ts[i]})")
    out = BookArrays(ts.astype(np.int64, copy=False), np.arange(ts.size, dtype=np.int64), levels)
    crossed = out.best_bid >= out.best_ask
    if crossed.any():
        i = int(np.flatnonzero(crossed)[0])
        raise ValueError(
            f"events.bid_px_1: crossed book at row {i} (bid {out.best_bid[i]} >= ask {out.best_ask[i]})"
        )
    if "last_update_id" in events.columns:
        # The venue keys consumed liquidity by update id: use the recorded ids only when they are
        # strictly increasing (unique); otherwise (e.g. a stream replayed twice) the row number.
        uid = events.get_column("last_update_id").cast(pl.Int64, strict=False)
        ids = uid.to_numpy() if uid.null_count() == 0 else None
        if ids is not None and (ids.size < 2 or bool(np.all(np.diff(ids) > 0))):
            out.update_id = ids.astype(np.int64, copy=False)
    return out


def book_snapshot(book: BookArrays, i: int, instrument: str) -> BookSnapshot:
    row, n = book.levels[i], book.depth
    bids = tuple((float(row[2 * k]), float(row[2 * k + 1])) for k in range(n) if row[2 * k + 1] > 0)
    asks = tuple(
        (float(row[2 * n + 2 * k]), float(row[2 * n + 2 * k + 1]))
        for k in range(n)
        if row[2 * n + 2 * k + 1] > 0
    )
    return BookSnapshot(instrument, int(book.ts_ms[i]), bids, asks)


def bar_volume(trades: pl.DataFrame, bar_open_ms: npt.NDArray[np.int64], bar_ms: int) -> FloatArray:
    for name in ("ts_ms", "amount"):
        if name not in trades.columns:
            raise ValueError(f"trades: missing column {name!r}")
    agg = (
        trades.lazy()
        .select(
            ((pl.col("ts_ms").cast(pl.Int64) // bar_ms) * bar_ms).alias("b"),
            pl.col("amount").cast(pl.Float64),
        )
        .group_by("b")
        .agg(pl.col("amount").sum())
        .collect()
    )
    lookup = dict(zip(agg.get_column("b").to_list(), agg.get_column("amount").to_list(), strict=True))
    return np.array([lookup.get(int(b), 0.0) for b in bar_open_ms.tolist()], dtype=np.float64)
