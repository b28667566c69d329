"""The bars a trader fed its strategies, kept on its state volume so a restart starts warm.

Why it exists: a strategy's state (EMAs, windows, z-scores) lives in memory; a trader that restarts
(a crash, ``kill -9``, a pod replaced on a new node with the same volume) would otherwise feed its
strategies from nothing and stay blind for their whole warm-up — 48 polls for the sample's
momentum — while its positions, restored from the logs, stay on the book unmanaged. freqtrade
downloads ``startup_candle_count`` candles at start for the same reason; our bars are the accepted
mids of the trader's own polls, so it keeps them itself.

:class:`BarMemory` keeps the last ``keep`` (ts, price) of each pair, writes them atomically
(``flush``, on the trader's snapshot schedule and at shutdown) and reads them back once.
:meth:`BarMemory.take` hands a pair's saved bars out once, at its first accepted book after the
start, and only when they join up with it: down for more than ``max_gap_bars`` poll intervals (on
the trader's clock, from the moment its last bar was kept) means the market moved on without us,
and warming a strategy on it would let it act on a jump it never saw — those bars are dropped, and
the caller records why.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BarMemory", "Warm"]

VERSION = 1


@dataclass(frozen=True)
class Warm:
    """What :meth:`BarMemory.take` decided for one pair: the bars to feed (oldest first), or why none."""

    bars: tuple[tuple[int, float], ...]
    why_not: str = ""


@dataclass
class BarMemory:
    path: Path
    keep: int = 1000
    max_gap_bars: float = 60.0
    _bars: dict[str, deque[tuple[int, float]]] = field(default_factory=dict)
    _saved: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # read at start, taken once
    _kept_at: dict[str, float] = field(default_factory=dict)  # pair → trader clock at its last bar
    _saved_at: dict[str, float] = field(default_factory=dict)
    _dirty: bool = False

    def load(self) -> str:
        """Read the saved bars; returns a problem to record ('' when none or nothing saved)."""
        if not self.path.exists():
            return ""
        try:
            raw = json.loads(self.path.read_text())
            if raw.get("version") != VERSION:
                return f"{self.path.name}: version {raw.get('version')!r}, not {VERSION}: ignored"
            self._saved = {
                pair: [(int(t), float(p)) for t, p in bars] for pair, bars in dict(raw["bars"]).items()
            }
            self._saved_at = {pair: float(at) for pair, at in dict(raw["keptAt"]).items()}
        except (OSError, ValueError, KeyError, TypeError) as e:
            return f"{self.path.name} unreadable, ignored: {e}"
        return ""

    def take(self, pair: str, book_ts: int, now: float, poll_s: float) -> Warm | None:
        """The saved bars of ``pair`` that join up with a book stamped ``book_ts`` (ms) seen at
        ``now`` (the trader's clock, s); None when nothing was saved for it or it was taken."""
        saved = self._saved.pop(pair, None)
        if not saved:
            return None
        bars = [(t, p) for t, p in saved if t < book_ts]  # a strategy never sees time run backwards
        down = now - self._saved_at.get(pair, float("-inf"))
        if not bars:
            return Warm((), "no saved bar is older than the current book")
        if down > self.max_gap_bars * poll_s:
            return Warm((), f"the last bar was kept {down:.0f}s ago, over {self.max_gap_bars:g} polls")
        for t, p in bars:
            self.record(pair, t, p, now)
        return Warm(tuple(bars))

    def record(self, pair: str, ts: int, price: float, now: float) -> None:
        q = self._bars.setdefault(pair, deque(maxlen=self.keep))
        if q and ts <= q[-1][0]:
            return  # the same book again (or older): one bar per book time
        q.append((ts, price))
        self._kept_at[pair] = now
        self._dirty = True

    def flush(self) -> None:
        """Write every pair's bars (atomic: a crash leaves the old file or the new one)."""
        if not self._dirty:
            return
        body = {
            "version": VERSION,
            "bars": {pair: list(q) for pair, q in self._bars.items()},
            "keptAt": self._kept_at,
        }
        tmp = self.path.with_suffix(".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w") as f:
            json.dump(body, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        with contextlib.suppress(OSError):  # the rename is durable once the directory is
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._dirty = False
