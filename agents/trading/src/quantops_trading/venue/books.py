"""Market data the simulator replays: L2 books, candles and public trades, on a controllable clock.

Why it exists: the matching engine must trade against *recorded* liquidity (real Binance L2 top-20
books where they exist, a synthetic ladder around real candles otherwise) so fills, slippage and
partial fills look like the venue's. Everything is driven by :class:`ReplayClock` — a speed factor
for agents, an explicit :meth:`ReplayClock.step` for tests — so a run is deterministic.

It must not know about HTTP, accounts or orders. Data is stored as numpy floats (compact, fast to
index) and converted to ``Decimal`` only at the edge, quantised to the market's tick/step.
When the replay runs past the end of a file it wraps around (the data is a loop, not a stop).
"""

from __future__ import annotations

import csv
import functools
import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt

from quantops_trading.venue.config import SymbolConfig

__all__ = ["Bar", "BookSnapshot", "MarketData", "PublicTrade", "ReplayClock", "load_market_data"]

Level = tuple[Decimal, Decimal]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class ReplayClock:
    """Elapsed replay time in ms: stepped explicitly, plus ``speed`` × wall time when speed > 0."""

    def __init__(self, speed: float = 0.0, wall: Callable[[], float] = time.monotonic) -> None:
        self._speed = speed
        self._wall = wall
        self._anchor = wall()
        self._stepped_ms = 0

    @property
    def elapsed_ms(self) -> int:
        """Replay milliseconds since start."""
        return self._stepped_ms + int((self._wall() - self._anchor) * 1000 * self._speed)

    def step(self, ms: int) -> int:
        """Advance the replay by ``ms`` and return the new elapsed time (test/step API)."""
        self._stepped_ms += max(0, ms)
        return self.elapsed_ms

    def set_speed(self, speed: float) -> None:
        """Change the speed factor without jumping the replay position."""
        self._stepped_ms = self.elapsed_ms
        self._anchor = self._wall()
        self._speed = speed


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """One L2 book: ``ts_ms`` is data time; ``update_id`` is Binance's lastUpdateId."""

    ts_ms: int
    update_id: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar (open time in ms)."""

    ts_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class PublicTrade:
    """One recorded market trade (``buyer_maker`` = the taker sold)."""

    trade_id: int
    ts_ms: int
    price: Decimal
    qty: Decimal
    buyer_maker: bool


def _dec(value: float, quantum: Decimal) -> Decimal:
    return Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_DOWN)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, list(reader)


class MarketData:
    """Replayed data for one symbol: book at a replay time, bars and trades up to it."""

    def __init__(
        self,
        cfg: SymbolConfig,
        *,
        book: tuple[IntArray, IntArray, FloatArray] | None,
        candles: tuple[IntArray, FloatArray] | None,
        trades: tuple[IntArray, FloatArray, list[bool]] | None,
        offset_ms: int,
    ) -> None:
        if book is None and candles is None:
            raise ValueError(f"{cfg.symbol}: needs a book_file or a candle_file")
        self.cfg = cfg
        self._book = book
        self._candles = candles
        self._trades = trades
        ts = book[0] if book is not None else candles[0]  # type: ignore[index]  # one is set
        self.start_ms = int(ts[0])
        width = int(ts[-1]) - int(ts[0])
        self.span_ms = width + max(1, width // max(1, len(ts) - 1))  # the last row lasts one step
        self._offset_ms = offset_ms

    def data_ms(self, elapsed_ms: int) -> int:
        """Data time at a replay position (wrapping around the end of the data)."""
        return self.start_ms + (self._offset_ms + elapsed_ms) % self.span_ms

    def book(self, elapsed_ms: int, depth: int = 20) -> BookSnapshot:
        """The book in force at ``elapsed_ms``: recorded L2 if present, else a candle ladder."""
        now = self.data_ms(elapsed_ms)
        tick, step = self.cfg.tick_size, self.cfg.step_size
        if self._book is not None:
            ts, uid, levels = self._book
            i = max(0, int(np.searchsorted(ts, now, side="right")) - 1)
            row = levels[i]
            n = row.shape[0] // 4
            bids = tuple(
                (_dec(row[2 * k], tick), _dec(row[2 * k + 1], step))
                for k in range(min(n, depth))
                if row[2 * k + 1] > 0
            )
            asks = tuple(
                (_dec(row[2 * n + 2 * k], tick), _dec(row[2 * n + 2 * k + 1], step))
                for k in range(min(n, depth))
                if row[2 * n + 2 * k + 1] > 0
            )
            return BookSnapshot(int(ts[i]), int(uid[i]), bids, asks)
        return self._synthetic_book(now, depth)

    def _synthetic_book(self, now: int, depth: int) -> BookSnapshot:
        assert self._candles is not None
        ts, ohlcv = self._candles
        i = max(0, int(np.searchsorted(ts, now, side="right")) - 1)
        bar_ms = int(ts[1] - ts[0]) if len(ts) > 1 else 60_000
        frac = min(1.0, max(0.0, (now - int(ts[i])) / bar_ms))
        o, c = float(ohlcv[i, 0]), float(ohlcv[i, 3])
        mid = Decimal(repr(o + (c - o) * frac))
        tick, step = self.cfg.tick_size, self.cfg.step_size
        half = max(tick, (mid * self.cfg.synthetic_spread_bps / Decimal(20000)).quantize(tick))
        gap = max(tick, (mid / Decimal(10000)).quantize(tick))
        best_bid = (mid - half).quantize(tick, rounding=ROUND_DOWN)
        best_ask = best_bid + 2 * half
        qty = self.cfg.synthetic_level_qty
        bids = tuple((best_bid - k * gap, (qty * (1 + Decimal(k) / 2)).quantize(step)) for k in range(depth))
        asks = tuple((best_ask + k * gap, (qty * (1 + Decimal(k) / 2)).quantize(step)) for k in range(depth))
        return BookSnapshot(now, i * 1000 + int(frac * 999), bids, asks)

    def bars(self, elapsed_ms: int, interval_ms: int, limit: int) -> list[Bar]:
        """Bars of ``interval_ms`` closed or forming at the replay time (newest last)."""
        now = self.data_ms(elapsed_ms)
        if self._candles is not None:
            ts, ohlcv = self._candles
            prices, vols = ohlcv[:, :4], ohlcv[:, 4]
        elif self._trades is not None:
            ts, tv, _ = self._trades
            prices, vols = np.repeat(tv[:, :1], 4, axis=1), tv[:, 1]
        else:
            assert self._book is not None
            ts, _, levels = self._book
            mid = (levels[:, 0] + levels[:, levels.shape[1] // 2]) / 2
            prices, vols = np.repeat(mid[:, None], 4, axis=1), np.zeros(len(ts))
        keep = ts <= now
        ts, prices, vols = ts[keep], prices[keep], vols[keep]
        buckets = (ts // interval_ms) * interval_ms
        out: list[Bar] = []
        for b in np.unique(buckets)[-limit:]:
            sel = buckets == b
            p = prices[sel]
            tick = self.cfg.tick_size
            out.append(
                Bar(
                    int(b),
                    _dec(p[0, 0], tick),
                    _dec(p[:, 1].max(), tick),
                    _dec(p[:, 2].min(), tick),
                    _dec(p[-1, 3], tick),
                    _dec(vols[sel].sum(), self.cfg.step_size),
                )
            )
        return out

    def trades(self, elapsed_ms: int, limit: int) -> list[PublicTrade]:
        """The last ``limit`` recorded trades at or before the replay time (oldest first)."""
        if self._trades is None:
            return []
        ts, tv, maker = self._trades
        end = int(np.searchsorted(ts, self.data_ms(elapsed_ms), side="right"))
        return [
            PublicTrade(
                int(tv[i, 2]),
                int(ts[i]),
                _dec(tv[i, 0], self.cfg.tick_size),
                _dec(tv[i, 1], self.cfg.step_size),
                maker[i],
            )
            for i in range(max(0, end - limit), end)
        ]


def _load_book(path: Path) -> tuple[IntArray, IntArray, FloatArray]:
    header, rows = _read_csv(path)
    first = header.index("bid_px_1")
    ts = np.array([int(r[0]) for r in rows], dtype=np.int64)
    uid = np.array([int(r[3]) for r in rows], dtype=np.int64)
    levels = np.array([[float(x or 0) for x in r[first:]] for r in rows], dtype=np.float64)
    return ts, uid, levels


def _load_candles(path: Path) -> tuple[IntArray, FloatArray]:
    _, rows = _read_csv(path)
    ts = np.array([int(r[0]) for r in rows], dtype=np.int64)
    return ts, np.array([[float(x) for x in r[1:6]] for r in rows], dtype=np.float64)


def _load_trades(path: Path) -> tuple[IntArray, FloatArray, list[bool]]:
    header, rows = _read_csv(path)
    col = {name: i for i, name in enumerate(header)}
    ts = np.array([int(r[col["ts_ms"]]) for r in rows], dtype=np.int64)
    tv = np.array(
        [[float(r[col["price"]]), float(r[col["amount"]]), float(r[col["trade_id"]])] for r in rows],
        dtype=np.float64,
    )
    return ts, tv, [r[col["side"]] == "sell" for r in rows]


@functools.lru_cache(maxsize=32)
def load_market_data(cfg: SymbolConfig, data_dir: Path, offset_ms: int = 0) -> MarketData:
    """Load the files a symbol names (relative to ``data_dir``); cached, the result is read-only."""
    return MarketData(
        cfg,
        book=_load_book(data_dir / cfg.book_file) if cfg.book_file else None,
        candles=_load_candles(data_dir / cfg.candle_file) if cfg.candle_file else None,
        trades=_load_trades(data_dir / cfg.trades_file) if cfg.trades_file else None,
        offset_ms=offset_ms,
    )
