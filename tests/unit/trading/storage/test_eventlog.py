"""Event log (roadmap 84): append-only enforced by SQLite, hash chain verified on open, crash-safe."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from quantops_trading.model import GateChanged, OrderDenied, parse_event
from quantops_trading.storage import ChainBrokenError, EventLog, LogFormatError, chain_hash


def _gate(i: int) -> GateChanged:
    return GateChanged(scope="strategy/s1", old="GO", new="PAUSE", actor="test", reason=f"r{i}", ts_ns=i)


def _fill(path: Path, n: int) -> list[str]:
    with EventLog(path) as log:
        return [log.append(_gate(i)).hash for i in range(n)]


def test_append_reopen_and_typed_read_back(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    hashes = _fill(path, 5)
    with EventLog(path) as log:
        assert len(log) == 5 and log.head == (5, hashes[-1])
        entries = list(log.entries())
        assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
        ev = entries[2].event()
        assert isinstance(ev, GateChanged) and ev.reason == "r2"
        # batch append shares one transaction; chain continues across it
        batch = log.append_many([_gate(10), _gate(11)])
        assert batch[0].prev_hash == hashes[-1] and log.head == (7, batch[1].hash)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_database_itself_refuses_update_delete_and_chain_breaking_inserts(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    _fill(path, 3)
    raw = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="UPDATE refused"):
        raw.execute("UPDATE events SET payload = '{}' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="DELETE refused"):
        raw.execute("DELETE FROM events WHERE seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="DELETE refused"):
        raw.execute("DELETE FROM meta")
    with pytest.raises(sqlite3.IntegrityError, match="does not extend the hash chain"):
        raw.execute("INSERT INTO events VALUES (9, 0, 'x', '{}', 'bad', 'bad')")
    raw.close()
    with EventLog(path) as log:
        assert log.verify() == 3


def _tamper(path: Path, sql: str) -> None:
    raw = sqlite3.connect(path)
    raw.executescript("DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete;" + sql)
    raw.close()


def test_tampered_payload_is_detected_on_open_naming_the_seq(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    _fill(path, 6)
    _tamper(path, "UPDATE events SET payload = replace(payload, 'r3', 'r9') WHERE seq = 4;")
    with pytest.raises(ChainBrokenError, match=r"seq 4.*tampered") as info:
        EventLog(path)
    assert info.value.seq == 4


def test_lost_row_is_detected_on_open(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    _fill(path, 6)
    _tamper(path, "DELETE FROM events WHERE seq = 3;")
    with pytest.raises(ChainBrokenError, match="seq 3: row missing"):
        EventLog(path)


def test_rehashed_forgery_still_breaks_the_link_to_the_next_row(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    _fill(path, 4)
    with EventLog(path) as log:
        row = next(r for r in log.rows() if r[0] == 2)
    forged = '{"forged":true}'
    new_hash = chain_hash(row[4], 2, row[1], row[2], forged)
    _tamper(path, f"UPDATE events SET payload = '{forged}', hash = '{new_hash}' WHERE seq = 2;")
    with pytest.raises(ChainBrokenError, match="seq 3: prev_hash"):
        EventLog(path)


def test_truncated_tail_detected_with_expected_head(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    hashes = _fill(path, 4)
    _tamper(path, "DELETE FROM events WHERE seq = 4;")
    # the chain alone cannot see a lost tail; the head record kept outside the file can
    with pytest.raises(ChainBrokenError, match="row 4 is missing"):
        EventLog(path)
    with pytest.raises(ChainBrokenError, match="rows lost at the tail"):  # so can another checkpoint
        EventLog(path, expect_head=(4, hashes[-1]), recover=True)
    with EventLog(path, recover=True) as log:  # recovery adopts what is left, saying so
        assert log.head[0] == 3
        assert log.recovered is not None and "row 4 is missing" in log.recovered


def test_not_an_event_log_and_bad_events_give_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(LogFormatError, match="not an event log"):
        EventLog(junk)
    with EventLog(tmp_path / "ok.sqlite") as log:
        with pytest.raises(ValueError, match="no 'kind'"):
            log.append({"x": 1})
        with pytest.raises(ValueError, match="ts_ns"):
            log.append({"kind": "x", "ts_ns": -1})
        assert len(log) == 0


_WRITER = textwrap.dedent(
    """
    import sys
    from quantops_trading.model import OrderDenied, Order
    from quantops_trading.storage import EventLog
    order = Order.model_validate({"client_order_id": "c1", "strategy_id": "s1",
        "instrument_id": "BTC/USDT@binance", "side": "buy", "type": "market", "quantity": "1"})
    log = EventLog(sys.argv[1])
    i = 0
    while True:
        i += 1
        entry = log.append(OrderDenied(order=order, reason=f"deny-{i}", rule="test", ts_ns=i))
        if i % 7 == 0:
            log.append_many([OrderDenied(order=order, reason=f"batch-{i}-{j}", rule="t", ts_ns=i)
                             for j in range(50)])
        print(entry.seq, entry.hash, flush=True)
    """
)


def test_sigkill_mid_append_leaves_every_committed_event_intact(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    committed: dict[int, str] = {}
    for line in proc.stdout:
        seq, digest = line.split()
        committed[int(seq)] = digest
        if len(committed) >= 150:
            break
    proc.send_signal(signal.SIGKILL)  # mid-append: the writer never stops between appends
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with EventLog(path) as log:  # verifies the full chain on open
        stored = {e.seq: e for e in log.entries()}
        assert log.head[0] >= max(committed)
    for seq, digest in committed.items():
        assert stored[seq].hash == digest
        ev = parse_event(stored[seq].payload)
        assert isinstance(ev, OrderDenied) and json.loads(stored[seq].payload)["rule"] == "test"
    # batches are atomic: every batch is either complete (50 rows) or absent
    batch_rows = [e for e in stored.values() if e.data()["reason"].startswith("batch-")]
    assert len(batch_rows) % 50 == 0
