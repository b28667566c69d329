"""WARM-stage paper results, read from the trader's per-strategy event log.

Why it exists: envelope checks (35) and realised-loss demotion (63) need what the strategy did on
live data. The trader appends ``PnlSnapshot`` (pnl, equity; paper ones at WARM), ``order_filled``
and, at WARM, ``paper_fill`` events (runtime/paper_desk.py) to
``<state>/eventlogs/<strategy>.sqlite``; this reads them through a read-only SQLite connection (the
trader owns the writer) and never writes.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Protocol

import numpy as np

from quantops_trading.pipeline.envelope import PaperResult

__all__ = ["EventLogPaper", "PaperSource"]


class PaperSource(Protocol):
    def paper(self, strategy: str, since_ns: int) -> PaperResult | None: ...


class EventLogPaper:
    def __init__(self, logs_dir: Path, capital: float) -> None:
        self.logs_dir, self.capital = logs_dir, capital

    def paper(self, strategy: str, since_ns: int) -> PaperResult | None:
        path = self.logs_dir / f"{strategy}.sqlite"
        if not path.is_file():
            return None
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
            try:
                rows = con.execute(
                    "SELECT ts_ns, kind, payload FROM events"
                    " WHERE ts_ns >= ? AND kind IN (?, ?, ?) ORDER BY seq",
                    (since_ns, "PnlSnapshot", "order_filled", "paper_fill"),
                ).fetchall()
            finally:
                con.close()
        except sqlite3.Error:
            return None
        snaps = [(ts, json.loads(p)) for ts, k, p in rows if k == "PnlSnapshot"]
        fills = sum(1 for _, k, _ in rows if k in ("order_filled", "paper_fill"))
        if len(snaps) < 2:
            return None
        eq = np.array([float(p["equity"]) for _, p in snaps])
        if np.any(eq <= 0):
            return None
        peak = np.maximum.accumulate(eq)
        pnl = float(snaps[-1][1]["pnl"]) - float(snaps[0][1]["pnl"])
        return PaperResult(
            hours=(snaps[-1][0] - snaps[0][0]) / 3.6e12,
            trades=fills,
            total_return=float(eq[-1] / eq[0] - 1),
            max_drawdown=float(np.max(1 - eq / peak)),
            realised_pnl=pnl,
            capital=self.capital,
        )
