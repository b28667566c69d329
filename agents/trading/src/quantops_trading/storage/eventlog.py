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

**Head record (the anchor outside the file).** A chain alone cannot show that rows are missing at
its *end*: a truncated tail, a deleted WAL (the committed rows not yet checkpointed into the main
file) or an older copy of the file all verify. So after every committed append the log's head is
also written to ``<log>.head`` (JSON; temp file + fsync + rename), and ``EventLog(path)`` checks
that the chain contains that row with that hash. Order: the SQLite commit first, the head record
second, so a crash between them leaves the log one batch *ahead* of its record (accepted: rows
beyond the record are counted in :attr:`EventLog.unanchored` and anchored by the next append),
never behind. The record is read *before* the database, so a reader racing a live writer never
sees a record ahead of the rows. The record is keyed: ``mac = HMAC-SHA256(key, name|first_seq|
genesis|seq|hash)`` with the state directory's ``eventlog.key`` (32 random bytes, 0600, created
once; see :func:`default_key_path`), so whoever can rewrite the SQLite file cannot also write a
head record that verifies without the key, and a log (with its record) copied in from another
state directory or under another name does not verify either. A non-empty log without a record
is refused (the record was deleted) unless opened with ``recover=True`` (or ``python -m
quantops_trading.storage.eventlog adopt PATH``), which adopts the current head after the chain
verified. A new, empty log gets its record at creation. What it cannot see: the log *and* its
record both rolled back to an older consistent pair from the same state directory, or both
deleted; that needs an anchor outside the state directory (the Agent's status).

The row format (``FORMAT_VERSION`` "1", the row hash above) is unchanged by the head record; the
record has its own version (``HEAD_FORMAT``).

Errors::

    EventLogError
    ├── ChainBrokenError   (tampering, a lost row or truncation, a missing/forged head record;
    │                       .seq is the first bad or missing seq)
    └── LogFormatError     (not an event log, or a foreign/newer format)

What it must not do: interpret events (that is the model's job) or archive (``storage/archive.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from quantops_trading.model.events import Event, parse_event

__all__ = [
    "GENESIS_HASH",
    "HEAD_FORMAT",
    "KEY_FILE",
    "ChainBrokenError",
    "EventLog",
    "EventLogError",
    "LogEntry",
    "LogFormatError",
    "canonical_json",
    "chain_hash",
    "default_key_path",
    "head_path",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
FORMAT_VERSION = "1"
HEAD_FORMAT = "quantops.eventlog-head/v1"
KEY_FILE = "eventlog.key"
_STATE_SUBDIRS = frozenset({"eventlogs", "canary"})
"""Folders of a state directory that hold logs: their key is the state directory's."""

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


def head_path(path: str | Path) -> Path:
    """Where the head record of the log at ``path`` lives: ``<path>.head``."""
    return Path(f"{path}.head")


def default_key_path(path: str | Path) -> Path:
    """The HMAC key for the log at ``path``: ``<state>/eventlog.key`` for a log in a state
    directory's ``eventlogs/`` or ``canary/``, else ``eventlog.key`` beside the log."""
    folder = Path(path).absolute().parent
    return (folder.parent if folder.name in _STATE_SUBDIRS else folder) / KEY_FILE


def _load_key(path: Path, *, create: bool) -> bytes | None:
    """The key at ``path``; created once (0600, atomically: a racing creator's key wins) if asked."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        if not create:
            return None
    except ValueError as e:
        raise EventLogError(f"event log key {path} is not readable as hex: {e}") from e
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces an existing key, and is never seen half-written
    except FileExistsError:
        pass
    except OSError:  # a filesystem without hard links: exclusive create (a racing reader may retry)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, tmp.read_bytes())
                os.fsync(fd)
            finally:
                os.close(fd)
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


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

    ``EventLog(path)`` creates the file if needed, verifies the whole chain on open and checks it
    reaches the head recorded in ``<path>.head`` (see the module doc): a truncated tail, a lost
    WAL, a replaced file or a deleted head record raise :class:`ChainBrokenError`.
    ``recover=True`` adopts the current head instead (after the chain verified) and says what it
    adopted in :attr:`recovered`. ``expect_head=(seq, hash)`` checks the head against another
    checkpoint too. ``key_path`` overrides :func:`default_key_path`.
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
        recover: bool = False,
        key_path: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.head_path = head_path(self.path)
        self.key_path = Path(key_path) if key_path is not None else default_key_path(self.path)
        self._key: bytes | None = None
        self.recovered: str | None = None
        """What ``recover=True`` adopted (None when the head record was fine)."""
        self.anchor: tuple[int, str] = (first_seq - 1, genesis_hash)
        """The head record this open verified (or wrote)."""
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.DatabaseError as e:
                raise LogFormatError(f"{self.path} is not an event log: {e}") from e
            self._init_schema(genesis_hash, first_seq)
            for attempt in range(2):
                # the record first, the rows second: a live writer commits before it records, so
                # every record read here names a row the database read below already holds
                record = self._read_record()
                self._head_seq, self._head_hash = self._read_head()
                if verify:
                    self.verify()
                if record is None and len(self) > 0 and attempt == 0 and self.head_path.exists():
                    continue  # created by a writer between the two reads: read both again
                if expect_head is not None and expect_head != (self._head_seq, self._head_hash):
                    raise ChainBrokenError(
                        str(self.path),
                        min(expect_head[0], self._head_seq + 1),
                        f"head is {(self._head_seq, self._head_hash[:12])}, expected {expect_head[0]} "
                        "(rows lost at the tail?)",
                    )
                self._check_record(record, recover=recover)  # last: recovery writes a record
                break
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

    # -- head record -----------------------------------------------------------------------------
    def _key_bytes(self, *, create: bool) -> bytes | None:
        if self._key is None:
            self._key = _load_key(self.key_path, create=create)
        return self._key

    def _mac(self, key: bytes, seq: int, digest: str) -> str:
        msg = f"{HEAD_FORMAT}|{self.path.name}|{self.first_seq}|{self.genesis_hash}|{seq}|{digest}"
        return hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()

    def _read_record(self) -> dict[str, Any] | None:
        try:
            text = self.head_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            record = json.loads(text)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            return record
        except ValueError as e:
            return {"unreadable": str(e)}

    def _record_problem(self, record: dict[str, Any] | None) -> tuple[int, str] | None:
        """None if ``record`` anchors this log; else ``(seq, reason)`` of what is wrong."""
        n = len(self)
        if record is None:
            if n == 0:
                return None
            return self._head_seq, (
                f"no head record ({self.head_path.name} is missing) for a log of {n} rows: the "
                "checkpoint kept outside the file was deleted, so a lost tail could not be seen"
            )
        if "unreadable" in record:
            return self._head_seq, f"head record {self.head_path} is unreadable ({record['unreadable']})"
        try:
            seq, digest, mac = int(record["seq"]), str(record["hash"]), str(record["mac"])
            fmt = record["format"]
        except (KeyError, TypeError, ValueError) as e:
            return self._head_seq, f"head record {self.head_path} lacks {e}"
        if fmt != HEAD_FORMAT:
            return self._head_seq, f"head record {self.head_path} has format {fmt!r}, not {HEAD_FORMAT!r}"
        key = self._key_bytes(create=False)
        if key is None:
            return seq, f"head record is keyed but the key {self.key_path} is missing (deleted or moved?)"
        if not hmac.compare_digest(mac, self._mac(key, seq, digest)):
            return seq, (
                f"head record {self.head_path.name} does not verify with {self.key_path} (forged, or "
                "copied from another log or state directory)"
            )
        if seq > self._head_seq:
            lost = f"row {seq} is" if seq == self._head_seq + 1 else f"rows {self._head_seq + 1}..{seq} are"
            return self._head_seq + 1, (
                f"{lost} missing: the log ends at seq {self._head_seq} but its head record says "
                f"{seq} (tail truncated, WAL lost, or an older copy of the file)"
            )
        if seq < self.first_seq - 1:
            return seq, f"head record seq {seq} precedes the log's first seq {self.first_seq}"
        if seq == self.first_seq - 1:
            stored: str | None = self.genesis_hash
        else:
            row = self._conn.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
            stored = str(row[0]) if row else None
        if stored != digest:
            return seq, (
                f"row {seq} is not the row the head record anchors (hash {str(stored)[:12]}, recorded "
                f"{digest[:12]}): the file was replaced by another log or its chain was rewritten"
            )
        return None

    def _check_record(self, record: dict[str, Any] | None, *, recover: bool) -> None:
        problem = self._record_problem(record)
        if problem is None:
            if record is None:  # a brand-new, empty log: its record starts here
                self._write_record()
            else:
                self.anchor = (int(record["seq"]), str(record["hash"]))
            return
        if not recover:
            seq, reason = problem
            raise ChainBrokenError(
                str(self.path),
                seq,
                f"{reason}. If the loss is understood, adopt the current head: "
                f"python -m quantops_trading.storage.eventlog adopt {self.path}",
            )
        self.recovered = f"{problem[1]}; adopted head {self._head_seq}"
        self._write_record()

    def _write_record(self) -> None:
        """Record the current head outside the file: temp + fsync + rename (atomic replace)."""
        key = self._key_bytes(create=True)
        assert key is not None
        seq, digest = self._head_seq, self._head_hash
        record = {
            "format": HEAD_FORMAT,
            "log": self.path.name,
            "first_seq": self.first_seq,
            "genesis_hash": self.genesis_hash,
            "seq": seq,
            "hash": digest,
            "mac": self._mac(key, seq, digest),
        }
        tmp = self.head_path.with_name(f".{self.head_path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.head_path)
        self.anchor = (seq, digest)

    @property
    def unanchored(self) -> int:
        """Rows beyond the head record this open verified: a crash between a commit and its
        record, or rows a live writer appended since; 0 after every append of this instance."""
        return self._head_seq - self.anchor[0]

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
        self._write_record()  # after the commit: a crash in between leaves the log ahead, never behind
        return entries

    def rows(
        self, from_seq: int | None = None, to_seq: int | None = None
    ) -> Iterator[tuple[int, int, str, str, str, str]]:
        """Raw rows ``(seq, ts_ns, kind, payload, prev_hash, hash)`` in seq order (``to_seq`` included)."""
        cur = self._conn.execute(
            "SELECT seq, ts_ns, kind, payload, prev_hash, hash FROM events WHERE seq >= ? AND seq <= ? "
            "ORDER BY seq",
            (self.first_seq if from_seq is None else from_seq, (1 << 63) - 1 if to_seq is None else to_seq),
        )
        while batch := cur.fetchmany(10_000):
            yield from batch

    def entries(self, from_seq: int | None = None) -> Iterator[LogEntry]:
        for row in self.rows(from_seq):
            yield LogEntry(*row)

    def verify(self) -> int:
        """Verify the whole chain up to :attr:`head`; returns the number of rows. Raises
        :class:`ChainBrokenError`. (Rows a live writer appends meanwhile are not this open's.)"""
        last_seq, last_hash, count = verify_chain(
            self.rows(to_seq=self._head_seq),
            first_seq=self.first_seq,
            genesis_hash=self.genesis_hash,
            where=str(self.path),
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m quantops_trading.storage.eventlog verify|adopt PATH...``: verify logs (chain and
    head record), or adopt a log's current head as its record after a loss that is understood."""
    parser = argparse.ArgumentParser(
        prog="python -m quantops_trading.storage.eventlog", description=main.__doc__
    )
    parser.add_argument("command", choices=["verify", "adopt"])
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failed = 0
    for path in args.paths:
        if not path.is_file():
            print(f"{path}: no such event log", file=sys.stderr)
            failed += 1
            continue
        try:
            with EventLog(path, recover=args.command == "adopt") as log:
                rows = log.verify()
                note = f" (adopted: {log.recovered})" if log.recovered else ""
                print(f"{path}: ok, {rows} rows, head {log.head[0]}{note}")
        except EventLogError as e:
            print(f"{path}: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
