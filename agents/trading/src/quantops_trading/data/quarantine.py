"""Persisting quarantined rows: a Parquet table per feed, and/or records in the event log.

Why it exists: a quarantined row is evidence (of a venue bug, a parser bug or an attack) and must
outlive the process. :class:`QuarantineStore` appends each batch as a zstd Parquet part under
``<root>/<feed>/`` (write to a temp name, fsync, rename: a crash never leaves a half file) and
reads them back as one table; :func:`quarantine_events` turns the rows into
:class:`~quantops_trading.model.events.QuarantineRecord` events for the append-only log.

What it must not do: decide what is bad (``data/quality.py`` does) or delete records.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import polars as pl

from quantops_trading.data.quality import QUARANTINE_SCHEMA, ValidationResult
from quantops_trading.model.events import QuarantineRecord
from quantops_trading.storage.eventlog import EventLog, LogEntry

__all__ = ["QuarantineStore", "quarantine_events"]

_SAFE = re.compile(r"[^A-Za-z0-9._\-]+")


def quarantine_events(result: ValidationResult, *, ts_ns: int | None = None) -> list[QuarantineRecord]:
    """One :class:`QuarantineRecord` per quarantined row of ``result``."""
    now = time.time_ns() if ts_ns is None else ts_ns
    return [
        QuarantineRecord(
            feed=row["feed"], row_index=row["row_index"], reason=row["reason"], raw=row["raw"], ts_ns=now
        )
        for row in result.quarantine.iter_rows(named=True)
    ]


class QuarantineStore:
    """Append-only Parquet store of quarantined rows, one folder per feed."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, feed: str) -> Path:
        return self.root / (_SAFE.sub("_", feed) or "_")

    def write(self, result: ValidationResult) -> Path | None:
        """Persist the quarantined rows of ``result`` (None when there are none)."""
        return self.write_rows(result.feed, result.quarantine)

    def write_rows(self, feed: str, rows: pl.DataFrame) -> Path | None:
        """Persist ``rows`` (``QUARANTINE_SCHEMA``) under ``feed`` (None when there are none)."""
        if rows.is_empty():
            return None
        folder = self._dir(feed)
        folder.mkdir(parents=True, exist_ok=True)
        frame = rows.with_columns(pl.lit(time.time_ns(), dtype=pl.Int64).alias("quarantined_ts_ns"))
        final = folder / f"part-{time.time_ns():020d}-{os.getpid()}.parquet"
        tmp = final.with_suffix(".tmp")
        frame.write_parquet(tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        tmp.rename(final)
        return final

    def read(self, feed: str | None = None) -> pl.DataFrame:
        """All stored records (of one feed, or all feeds), oldest part first."""
        folders = (
            [self._dir(feed)] if feed is not None else sorted(p for p in self.root.iterdir() if p.is_dir())
        )
        parts = sorted(p for folder in folders if folder.is_dir() for p in folder.glob("part-*.parquet"))
        if not parts:
            schema: dict[str, type[pl.DataType]] = {**QUARANTINE_SCHEMA, "quarantined_ts_ns": pl.Int64}
            return pl.DataFrame(schema=schema)
        return pl.concat([pl.read_parquet(p) for p in parts], how="vertical")

    @staticmethod
    def append_to_log(log: EventLog, result: ValidationResult) -> list[LogEntry]:
        """Record the quarantined rows in an event log as one atomic batch."""
        return log.append_many(quarantine_events(result))
