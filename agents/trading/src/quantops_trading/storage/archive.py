"""Archival of the event log into zstd Parquet with a retention policy (roadmap 85).

Why it exists: the hot SQLite log refuses DELETE, so it cannot be trimmed in place. Instead the
log is a sequence of **segments** in one directory: ``segment-000001.sqlite`` … of which only the
newest is hot. :meth:`SegmentedEventLog.roll` archives the hot segment to
``segment-NNNNNN.parquet`` (zstd), starts a new segment whose genesis hash is the archived head
hash (and whose first seq follows it), then removes the old SQLite file. The chain therefore
continues across every boundary and :meth:`SegmentedEventLog.verify` checks it end to end.

Crash safety of a roll: the Parquet file is written to a temp name, fsync'd, verified, renamed;
only then is the next segment created and the old file removed (with its head record,
``eventlog.py``: every SQLite segment has one, so a hot segment that loses rows or disappears
while its record stays is refused on open). On open, a segment that exists
both as Parquet and SQLite (a crash between those steps) is resolved by keeping the Parquet copy
after checking it holds the same head.

Retention (:class:`RetentionPolicy`): roll when the hot segment has ``max_hot_rows`` rows or its
oldest event is older than ``max_hot_age_ns``; keep at most ``keep_archives`` archives (oldest
deleted first). After deletion the oldest retained row's ``prev_hash`` is the trusted anchor.

What it must not do: interpret events, or ever rewrite an archived row.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel

from quantops_trading.storage.eventlog import (
    GENESIS_HASH,
    ChainBrokenError,
    EventLog,
    LogEntry,
    head_path,
    verify_chain,
)

__all__ = ["RetentionPolicy", "SegmentedEventLog"]

_SEG_RE = re.compile(r"^segment-(\d{6})\.(sqlite|parquet)$")
_COLUMNS = ["seq", "ts_ns", "kind", "payload", "prev_hash", "hash"]


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    max_hot_rows: int = 100_000
    max_hot_age_ns: int | None = None
    keep_archives: int | None = None


class SegmentedEventLog:
    """A hash-chained event log split into a hot SQLite segment and zstd Parquet archives."""

    def __init__(self, directory: str | Path, *, now_ns: Callable[[], int] = time.time_ns) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._now_ns = now_ns
        self._recover()
        hot = sorted(self._paths("sqlite"))
        if not hot:
            index, genesis, first = self._next_after_archives()
            self.hot = EventLog(self._path(index, "sqlite"), genesis_hash=genesis, first_seq=first)
        else:
            self.hot = EventLog(self._path(hot[-1], "sqlite"))
        self.hot_index = hot[-1] if hot else self._index_of(self.hot.path)
        self.verify()

    # -- layout --------------------------------------------------------------------------------
    def _path(self, index: int, ext: str) -> Path:
        return self.dir / f"segment-{index:06d}.{ext}"

    @staticmethod
    def _index_of(path: Path) -> int:
        match = _SEG_RE.match(path.name)
        assert match is not None
        return int(match.group(1))

    def _paths(self, ext: str) -> list[int]:
        return [
            int(m.group(1)) for p in self.dir.iterdir() if (m := _SEG_RE.match(p.name)) and m.group(2) == ext
        ]

    def archives(self) -> list[Path]:
        return [self._path(i, "parquet") for i in sorted(self._paths("parquet"))]

    def _next_after_archives(self) -> tuple[int, str, int]:
        archives = self.archives()
        if not archives:
            return 1, GENESIS_HASH, 1
        last = pl.read_parquet(archives[-1], columns=["seq", "hash"]).tail(1)
        return self._index_of(archives[-1]) + 1, str(last["hash"][0]), int(last["seq"][0]) + 1

    def _recover(self) -> None:
        for index in set(self._paths("parquet")) - set(self._paths("sqlite")):
            head_path(self._path(index, "sqlite")).unlink(missing_ok=True)  # see _remove_sqlite
        for index in set(self._paths("sqlite")) & set(self._paths("parquet")):
            with EventLog(self._path(index, "sqlite")) as log:
                head = log.head
            tail = pl.read_parquet(self._path(index, "parquet"), columns=["seq", "hash"]).tail(1)
            if (int(tail["seq"][0]), str(tail["hash"][0])) != head:
                raise ChainBrokenError(
                    str(self.dir), head[0], f"segment {index} archive and hot copy disagree"
                )
            _remove_sqlite(self._path(index, "sqlite"))

    # -- writing -------------------------------------------------------------------------------
    def append(self, event: BaseModel | dict[str, Any], *, kind: str | None = None) -> LogEntry:
        return self.hot.append(event, kind=kind)

    def append_many(
        self, events: list[BaseModel | dict[str, Any]], *, kind: str | None = None
    ) -> list[LogEntry]:
        return self.hot.append_many(events, kind=kind)

    def roll(self) -> Path | None:
        """Archive the hot segment to Parquet and start the next one (None if it is empty)."""
        if len(self.hot) == 0:
            return None
        index = self.hot_index
        head_seq, head_hash = self.hot.head
        self.hot.checkpoint()
        frame = pl.DataFrame(list(self.hot.rows()), schema=_COLUMNS, orient="row")
        final = self._path(index, "parquet")
        tmp = final.with_suffix(".parquet.tmp")
        frame.write_parquet(tmp, compression="zstd", compression_level=6, statistics=True)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        verify_chain(
            pl.read_parquet(tmp).iter_rows(),
            first_seq=self.hot.first_seq,
            genesis_hash=self.hot.genesis_hash,
            where=str(tmp),
        )
        tmp.rename(final)
        _fsync_dir(self.dir)
        old_path = self.hot.path
        self.hot.close()
        self.hot = EventLog(self._path(index + 1, "sqlite"), genesis_hash=head_hash, first_seq=head_seq + 1)
        self.hot_index = index + 1
        _remove_sqlite(old_path)
        _fsync_dir(self.dir)
        return final

    def apply_retention(self, policy: RetentionPolicy) -> list[Path]:
        """Roll if the hot segment is too big/old; delete archives beyond ``keep_archives``."""
        first = next(self.hot.rows(), None)
        too_old = (
            policy.max_hot_age_ns is not None
            and first is not None
            and self._now_ns() - first[1] > policy.max_hot_age_ns
        )
        if len(self.hot) >= policy.max_hot_rows or too_old:
            self.roll()
        deleted: list[Path] = []
        if policy.keep_archives is not None:
            archives = self.archives()
            for path in archives[: max(0, len(archives) - policy.keep_archives)]:
                path.unlink()
                deleted.append(path)
            if deleted:
                _fsync_dir(self.dir)
        return deleted

    # -- reading -------------------------------------------------------------------------------
    def rows(self) -> Iterator[tuple[int, int, str, str, str, str]]:
        """Every row, archives first then the hot segment, in seq order."""
        for path in self.archives():
            yield from pl.read_parquet(path).select(_COLUMNS).iter_rows()
        yield from self.hot.rows()

    def entries(self, from_seq: int = 0) -> Iterator[LogEntry]:
        for row in self.rows():
            if row[0] >= from_seq:
                yield LogEntry(*row)

    def verify(self) -> int:
        """Verify the chain across every archive boundary into the hot segment; returns the row count."""
        archives = self.archives()
        if archives:
            first = pl.read_parquet(archives[0], columns=["seq", "prev_hash"]).head(1)
            anchor, first_seq = str(first["prev_hash"][0]), int(first["seq"][0])
        else:
            anchor, first_seq = self.hot.genesis_hash, self.hot.first_seq
        last_seq, last_hash, count = verify_chain(
            self.rows(), first_seq=first_seq, genesis_hash=anchor, where=str(self.dir)
        )
        if (last_seq, last_hash) != self.hot.head:
            raise ChainBrokenError(
                str(self.dir), last_seq + 1, "hot segment head does not continue the archives"
            )
        return count

    def close(self) -> None:
        self.hot.close()

    def __enter__(self) -> SegmentedEventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _remove_sqlite(path: Path) -> None:
    # the head record last: a crash midway leaves a record without its segment, which is ignored
    # (archived indices are never reused) and removed by the next open's recovery
    for suffix in ("", "-wal", "-shm", ".head"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
