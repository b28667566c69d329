"""The immutable, append-only, hash-chained event log of one strategy (roadmap 84).

Why it exists: everything a restart needs is rebuilt from this log, and every gate change and
order is audited from it, so it must be impossible to edit quietly and must survive a crash at
any instant. It is one SQLite file in WAL mode where:

* UPDATE and DELETE are refused **by the database itself** (triggers that ``RAISE(ABORT, ...)``),
  and an INSERT whose ``seq``/``prev_hash`` does not extend the chain is refused the same way;
* each row stores ``hash = sha256(prev_hash | seq | ts_ns | kind | payload)`` where ``payload`` is
  canonical JSON (sorted keys, no spaces), so any edit or lost row breaks the chain. The chain is
  verified on open and a :class:`ChainBrokenError` names the first bad ``seq``;
* durability: ``PRAGMA synchronous=FULL`` always. ``append`` is one transaction (one fsync of the
  WAL) per event: use it for gate, order and fill events. ``append_many`` writes a batch in one
  transaction (one fsync for the batch): use it for high-rate market-data events, accepting that a
  crash loses the whole uncommitted batch and nothing else.

Errors::

    EventLogError
    ├── ChainBrokenError   (tampering, a lost row or truncation; .seq is the first bad seq)
    └── LogFormatError     (not an event log, or a foreign/newer format)

What it must not do: interpret events (that is the model's job) or archive (``storage/archive.py``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from quantops_trading.model.events import Event, parse_event

__all__ = [
    "GENESIS_HASH",
    "ChainBrokenError",
    "EventLog",
    "EventLogError",
    "LogEntry",
    "LogFormatError",
    "canonical_json",
    "chain_hash",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
FORMAT_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'event log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'event log is append-only: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS meta_no_update BEFORE UPDATE ON meta
BEGIN SELECT RAISE(ABORT, 'event log meta is immutable: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS meta_no_delete BEFORE DELETE ON meta
BEGIN SELECT RAISE(ABORT, 'event log meta is immutable: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_chain BEFORE INSERT ON events
WHEN NEW.seq IS NOT COALESCE((SELECT MAX(seq) FROM events),
                             (SELECT CAST(value AS INTEGER) - 1 FROM meta WHERE key = 'first_seq')) + 1
  OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM events ORDER BY seq DESC LIMIT 1),
                                   (SELECT value FROM meta WHERE key = 'genesis_hash'))
BEGIN SELECT RAISE(ABORT, 'event log insert does not extend the hash chain'); END;
"""


class EventLogError(Exception):
    """Base of every event-log error."""


class ChainBrokenError(EventLogError):
    """The hash chain does not verify; ``seq`` is the first row that is wrong (or missing)."""

    def __init__(self, path: str, seq: int, reason: str) -> None:
        self.path, self.seq, self.reason = path, seq, reason
        super().__init__(f"event log {path}: hash chain broken at seq {seq}: {reason}")


class LogFormatError(EventLogError):
    """The file is not an event log of a format this code understands."""


def canonical_json(payload: Mapping[str, Any]) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the same dict always gives the same text."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chain_hash(prev_hash: str, seq: int, ts_ns: int, kind: str, payload: str) -> str:
    """``sha256(prev_hash | seq | ts_ns | kind | canonical payload)`` as 64 hex digits."""
    data = f"{prev_hash}|{seq}|{ts_ns}|{kind}|{payload}".encode()
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One stored row; ``payload`` is canonical JSON text."""

    seq: int
    ts_ns: int
    kind: str
    payload: str
    prev_hash: str
    hash: str

    def event(self) -> Event:
        """The typed event this row holds (``parse_event`` on the payload)."""
        return parse_event(self.payload)

    def data(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.payload)
        return result


def verify_chain(
    rows: Iterable[tuple[int, int, str, str, str, str]], *, first_seq: int, genesis_hash: str, where: str
) -> tuple[int, str, int]:
    """Check contiguity and hashes of ``(seq, ts_ns, kind, payload, prev_hash, hash)`` rows.

    Returns ``(last_seq, last_hash, count)``; raises :class:`ChainBrokenError` at the first bad row.
    """
    expected_seq, prev, count = first_seq, genesis_hash, 0
    sha = hashlib.sha256
    for seq, ts_ns, kind, payload, prev_hash, stored in rows:
        if seq != expected_seq:
            raise ChainBrokenError(where, expected_seq, f"row missing (next stored seq is {seq})")
        if prev_hash != prev:
            raise ChainBrokenError(where, seq, "prev_hash does not match the previous row's hash")
        if sha(f"{prev}|{seq}|{ts_ns}|{kind}|{payload}".encode()).hexdigest() != stored:
            raise ChainBrokenError(where, seq, "row content does not match its hash (tampered)")
        prev, expected_seq, count = stored, expected_seq + 1, count + 1
    return expected_seq - 1, prev, count


class EventLog:
    """An append-only, hash-chained SQLite event log (one per strategy / per segment).

    ``EventLog(path)`` creates the file if needed and verifies the whole chain on open. Pass
    ``expect_head=(seq, hash)`` (e.g. from a checkpoint) to also detect truncation of the tail.
    ``genesis_hash``/``first_seq`` are only used when creating a new file (segment rolling).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        verify: bool = True,
        expect_head: tuple[int, str] | None = None,
        genesis_hash: str = GENESIS_HASH,
        first_seq: int = 1,
    ) -> None:
        self.path = Path(path)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.DatabaseError as e:
                raise LogFormatError(f"{self.path} is not an event log: {e}") from e
            self._init_schema(genesis_hash, first_seq)
            self._head_seq, self._head_hash = self._read_head()
            if verify:
                self.verify()
            if expect_head is not None and expect_head != (self._head_seq, self._head_hash):
                raise ChainBrokenError(
                    str(self.path),
                    min(expect_head[0], self._head_seq + 1),
                    f"head is {(self._head_seq, self._head_hash[:12])}, expected {expect_head[0]} "
                    "(rows lost at the tail?)",
                )
        except BaseException:
            self._conn.close()
            raise

    # -- setup ---------------------------------------------------------------------------------
    def _init_schema(self, genesis_hash: str, first_seq: int) -> None:
        try:
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise LogFormatError(f"{self.path} is not an event log: {e}") from e
        meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("format", FORMAT_VERSION), ("genesis_hash", genesis_hash), ("first_seq", str(first_seq))],
            )
            self._conn.execute("COMMIT")
            meta = {"format": FORMAT_VERSION, "genesis_hash": genesis_hash, "first_seq": str(first_seq)}
        if meta.get("format") != FORMAT_VERSION:
            raise LogFormatError(f"{self.path}: unsupported event log format {meta.get('format')!r}")
        self.genesis_hash: str = meta["genesis_hash"]
        self.first_seq: int = int(meta["first_seq"])

    def _read_head(self) -> tuple[int, str]:
        row = self._conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else (self.first_seq - 1, self.genesis_hash)

    # -- public API ------------------------------------------------------------------------------
    @property
    def head(self) -> tuple[int, str]:
        """``(last seq, last hash)``; ``(first_seq - 1, genesis_hash)`` when empty."""
        return self._head_seq, self._head_hash

    def __len__(self) -> int:
        return self._head_seq - self.first_seq + 1

    def append(self, event: BaseModel | Mapping[str, Any], *, kind: str | None = None) -> LogEntry:
        """Append one event in its own durable transaction (fsync before returning)."""
        return self.append_many([event], kind=kind)[0]

    def append_many(
        self, events: Iterable[BaseModel | Mapping[str, Any]], *, kind: str | None = None
    ) -> list[LogEntry]:
        """Append a batch atomically in one transaction: all rows or none survive a crash."""
        seq, prev = self._head_seq, self._head_hash
        entries: list[LogEntry] = []
        for ev in events:
            ev_kind, ts_ns, payload = _encode(ev, kind)
            seq += 1
            digest = chain_hash(prev, seq, ts_ns, ev_kind, payload)
            entries.append(LogEntry(seq, ts_ns, ev_kind, payload, prev, digest))
            prev = digest
        if not entries:
            return entries
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(
                "INSERT INTO events (seq, ts_ns, kind, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
                [(e.seq, e.ts_ns, e.kind, e.payload, e.prev_hash, e.hash) for e in entries],
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._head_seq, self._head_hash = seq, prev
        return entries

    def rows(self, from_seq: int | None = None) -> Iterator[tuple[int, int, str, str, str, str]]:
        """Raw rows ``(seq, ts_ns, kind, payload, prev_hash, hash)`` in seq order."""
        cur = self._conn.execute(
            "SELECT seq, ts_ns, kind, payload, prev_hash, hash FROM events WHERE seq >= ? ORDER BY seq",
            (self.first_seq if from_seq is None else from_seq,),
        )
        while batch := cur.fetchmany(10_000):
            yield from batch

    def entries(self, from_seq: int | None = None) -> Iterator[LogEntry]:
        for row in self.rows(from_seq):
            yield LogEntry(*row)

    def verify(self) -> int:
        """Verify the whole chain; returns the number of rows. Raises :class:`ChainBrokenError`."""
        last_seq, last_hash, count = verify_chain(
            self.rows(), first_seq=self.first_seq, genesis_hash=self.genesis_hash, where=str(self.path)
        )
        if (last_seq, last_hash) != self.head:
            raise ChainBrokenError(str(self.path), last_seq + 1, "head does not match the verified chain")
        return count

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (used before archiving a segment)."""
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _encode(ev: BaseModel | Mapping[str, Any], kind: str | None) -> tuple[str, int, str]:
    if isinstance(ev, BaseModel):
        data: dict[str, Any] = ev.model_dump(mode="json")
    else:
        data = dict(ev)
    ev_kind = kind or data.get("kind")
    if not isinstance(ev_kind, str) or not ev_kind:
        raise ValueError(f"event has no 'kind' (pass kind=...): {str(data)[:200]}")
    ts_ns = data.get("ts_ns", 0)
    if not isinstance(ts_ns, int) or isinstance(ts_ns, bool) or ts_ns < 0:
        raise ValueError(f"event ts_ns must be a non-negative int, got {ts_ns!r}")
    return ev_kind, ts_ns, canonical_json(data)
