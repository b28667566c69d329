"""The head record kept outside the log file (issue 16): a lost tail, a lost WAL, a replaced file or a
deleted/forged record is refused at open; a crash between a commit and its record is not."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from quantops_trading.model import GateChanged
from quantops_trading.storage import ChainBrokenError, EventLog
from quantops_trading.storage.eventlog import HEAD_FORMAT, KEY_FILE, default_key_path, head_path, main


def _gate(i: int, tag: str = "r") -> GateChanged:
    return GateChanged(scope="strategy/s1", old="GO", new="PAUSE", actor="test", reason=f"{tag}{i}", ts_ns=i)


def _fill(path: Path, n: int, tag: str = "r", start: int = 0) -> list[str]:
    with EventLog(path) as log:
        return [log.append(_gate(i, tag)).hash for i in range(start, start + n)]


def _drop_triggers_and(path: Path, sql: str) -> None:
    raw = sqlite3.connect(path)
    raw.executescript("DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete;" + sql)
    raw.close()


def _record(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(head_path(path).read_text())
    return data


def test_new_log_gets_a_keyed_record_and_every_append_moves_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = state / "eventlogs" / "s1.sqlite"
    path.parent.mkdir(parents=True)
    with EventLog(path) as log:
        assert _record(path)["seq"] == 0  # a brand-new log is anchored at its genesis
        entry = log.append(_gate(1))
        assert (_record(path)["seq"], _record(path)["hash"]) == (1, entry.hash) == log.anchor
        batch = log.append_many([_gate(2), _gate(3)])
        assert _record(path)["seq"] == 3 and _record(path)["hash"] == batch[-1].hash
        assert log.unanchored == 0
    record = _record(path)
    assert record["format"] == HEAD_FORMAT and record["log"] == "s1.sqlite"
    assert isinstance(record["mac"], str) and len(record["mac"]) == 64
    # one key per state directory, 0600, shared by eventlogs/ and canary/, created once
    key = state / KEY_FILE
    assert default_key_path(path) == key == default_key_path(state / "canary" / "canary.sqlite")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    before = key.read_text()
    (state / "canary").mkdir()
    _fill(state / "canary" / "canary.sqlite", 2)
    assert key.read_text() == before
    assert default_key_path(tmp_path / "audit.db") == tmp_path / KEY_FILE  # outside a state layout
    with EventLog(path) as log:
        assert log.verify() == 3 and log.recovered is None


def test_tail_deleted_bypassing_the_triggers_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    _fill(path, 6)
    _drop_triggers_and(path, "DELETE FROM events WHERE seq >= 5;")
    with pytest.raises(ChainBrokenError, match=r"rows 5\.\.6 are missing: the log ends at seq 4") as info:
        EventLog(path)
    assert info.value.seq == 5
    assert "tail truncated, WAL lost, or an older copy" in str(info.value)
    assert f"python -m quantops_trading.storage.eventlog adopt {path}" in str(info.value)


def test_an_older_copy_of_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    _fill(path, 3)  # closed: the WAL is checkpointed into the file
    shutil.copy2(path, tmp_path / "old.sqlite")
    _fill(path, 2, start=3)
    shutil.copy2(tmp_path / "old.sqlite", path)
    with pytest.raises(ChainBrokenError, match=r"rows 4\.\.5 are missing: the log ends at seq 3"):
        EventLog(path)


_WRITE_AND_DIE = textwrap.dedent(
    """
    import os, sys
    from quantops_trading.model import GateChanged
    from quantops_trading.storage import EventLog
    log = EventLog(sys.argv[1])
    for i in range(int(sys.argv[2])):
        log.append(GateChanged(scope="s", old="GO", new="PAUSE", actor="t", reason=f"r{i}", ts_ns=i))
    os._exit(0)  # no close, no checkpoint: the committed rows are in the WAL only
    """
)


def test_a_deleted_wal_before_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    _fill(path, 2)  # checkpointed on close: rows 1-2 are in the main file
    subprocess.run([sys.executable, "-c", _WRITE_AND_DIE, str(path), "3"], check=True, timeout=60)
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0
    control = tmp_path / "control"
    control.mkdir()
    for suffix in ("", "-wal", ".head"):
        shutil.copy2(f"{path}{suffix}", control / f"s1.sqlite{suffix}")
    wal.unlink()
    Path(f"{path}-shm").unlink(missing_ok=True)
    with pytest.raises(ChainBrokenError, match=r"rows 3\.\.5 are missing: the log ends at seq 2"):
        EventLog(path)
    # the same files with the WAL kept: all five rows are there, and the record verifies
    with EventLog(control / "s1.sqlite", key_path=tmp_path / KEY_FILE) as log:
        assert log.verify() == 5 and log.unanchored == 0


def test_another_valid_log_swapped_in_is_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    _fill(a, 4, tag="a")
    _fill(b, 4, tag="b")
    saved_a_head = head_path(a).read_bytes()
    shutil.copy2(b, a)  # the file only: a's record names a row b does not have
    with pytest.raises(ChainBrokenError, match="row 4 is not the row the head record anchors") as info:
        EventLog(a)
    assert "replaced by another log" in str(info.value)
    shutil.copy2(head_path(b), head_path(a))  # with b's record too: bound to b's name
    with pytest.raises(ChainBrokenError, match=r"does not verify with .*eventlog\.key"):
        EventLog(a)
    # a log and its record from another state directory (another key), under the same name
    other = tmp_path / "other"
    other.mkdir()
    _fill(other / "a.sqlite", 4, tag="x")
    shutil.copy2(other / "a.sqlite", a)
    shutil.copy2(head_path(other / "a.sqlite"), head_path(a))
    with pytest.raises(ChainBrokenError, match="copied from another log or state directory"):
        EventLog(a)
    head_path(a).write_bytes(saved_a_head)


def test_a_forged_record_without_the_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    _fill(path, 5)
    _drop_triggers_and(path, "DELETE FROM events WHERE seq = 5;")
    with EventLog(path, recover=True, key_path=tmp_path / "attacker.key") as log:
        forged_head = log.head  # a record for the shortened log, keyed with the wrong key
    assert _record(path)["seq"] == 4
    with pytest.raises(ChainBrokenError, match=r"seq 4: head record s1\.sqlite\.head does not verify"):
        EventLog(path)
    record = _record(path)
    record["mac"] = "0" * 64
    head_path(path).write_text(json.dumps(record))
    with pytest.raises(ChainBrokenError, match="does not verify"):
        EventLog(path)
    assert forged_head[0] == 4


def test_missing_record_or_key_is_an_error_unless_recovering(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    _fill(path, 3)
    head_path(path).unlink()
    with pytest.raises(
        ChainBrokenError, match=r"no head record \(s1\.sqlite\.head is missing\) for a log of 3"
    ):
        EventLog(path)
    with EventLog(path, recover=True) as log:
        assert log.recovered is not None and "no head record" in log.recovered
        assert log.anchor == log.head and log.head[0] == 3
    with EventLog(path) as log:  # adopted: a plain open is fine again
        assert log.verify() == 3
    (tmp_path / KEY_FILE).unlink()
    with pytest.raises(ChainBrokenError, match=r"the key .*eventlog\.key is missing"):
        EventLog(path)
    head_path(path).write_text("{not json")
    with pytest.raises(ChainBrokenError, match="unreadable"):
        EventLog(path)
    # recovery never hides a broken chain
    head_path(path).unlink()
    _drop_triggers_and(path, "UPDATE events SET payload = replace(payload, 'r1', 'r9') WHERE seq = 2;")
    with pytest.raises(ChainBrokenError, match=r"seq 2.*tampered"):
        EventLog(path, recover=True)


def test_a_log_whose_file_was_deleted_is_not_silently_recreated(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    _fill(path, 3)
    path.unlink()
    with pytest.raises(ChainBrokenError, match=r"rows 1\.\.3 are missing: the log ends at seq 0"):
        EventLog(path)


def test_log_ahead_of_its_record_is_a_normal_crash(tmp_path: Path) -> None:
    """Commit first, record second: a crash in between leaves the record behind the log."""
    path = tmp_path / "s1.sqlite"
    _fill(path, 3)
    older = head_path(path).read_bytes()
    hashes = _fill(path, 2, start=3)
    head_path(path).write_bytes(older)  # as if killed after the last commits, before their record
    with EventLog(path) as log:
        assert log.head == (5, hashes[-1])
        assert log.anchor[0] == 3 and log.unanchored == 2
        log.append(_gate(9))
        assert log.unanchored == 0 and _record(path)["seq"] == 6


_KILL_BETWEEN_COMMIT_AND_RECORD = textwrap.dedent(
    """
    import os, signal, sys
    from quantops_trading.model import GateChanged
    from quantops_trading.storage import EventLog
    from quantops_trading.storage import eventlog
    real = eventlog.EventLog._write_record
    def write_record(self):
        if self.head[0] == 4:  # row 4 is committed; die before recording it
            os.kill(os.getpid(), signal.SIGKILL)
        real(self)
    eventlog.EventLog._write_record = write_record
    log = EventLog(sys.argv[1])
    for i in range(10):
        log.append(GateChanged(scope="s", old="GO", new="PAUSE", actor="t", reason=f"r{i}", ts_ns=i))
    """
)


def test_sigkill_between_commit_and_record_reopens_fine(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    proc = subprocess.run([sys.executable, "-c", _KILL_BETWEEN_COMMIT_AND_RECORD, str(path)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _record(path)["seq"] == 3
    with EventLog(path) as log:
        assert log.head[0] == 4 and log.unanchored == 1
        log.append(_gate(4))
    with EventLog(path) as log:
        assert log.verify() == 5 and log.unanchored == 0


_BUSY_WRITER = textwrap.dedent(
    """
    import sys
    from quantops_trading.model import GateChanged
    from quantops_trading.storage import EventLog
    log = EventLog(sys.argv[1])
    i = 0
    while True:
        i += 1
        if i % 5:
            log.append(GateChanged(scope="s", old="GO", new="PAUSE", actor="t", reason=f"r{i}", ts_ns=i))
        else:
            log.append_many([GateChanged(scope="s", old="GO", new="CHECK", actor="t", reason=f"b{i}", ts_ns=i)
                             for _ in range(20)])
        if i == 3:
            print("ready", flush=True)
    """
)


def test_readers_opening_while_a_writer_appends_see_no_false_alarm(tmp_path: Path) -> None:
    path = tmp_path / "s1.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", _BUSY_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        heads = []
        for _ in range(40):
            with EventLog(path) as log:  # verifies chain + record on every open
                heads.append(log.head[0])
                assert log.unanchored >= 0
        assert heads[-1] > heads[0]  # the writer really was appending meanwhile
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    with EventLog(path) as log:  # and its kill -9 left a log that opens
        assert log.verify() == log.head[0]


def test_cli_verify_and_adopt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, cut = tmp_path / "good.sqlite", tmp_path / "cut.sqlite"
    _fill(good, 2)
    _fill(cut, 3)
    _drop_triggers_and(cut, "DELETE FROM events WHERE seq = 3;")
    assert main(["verify", str(good), str(cut)]) == 1
    out, err = capsys.readouterr()
    assert f"{good}: ok, 2 rows, head 2" in out
    assert "row 3 is missing" in err
    assert main(["adopt", str(cut)]) == 0
    assert "adopted: row 3 is missing" in capsys.readouterr().out
    assert main(["verify", str(cut)]) == 0
    assert main(["verify", str(tmp_path / "nope.sqlite")]) == 1
    assert not (tmp_path / "nope.sqlite").exists()
