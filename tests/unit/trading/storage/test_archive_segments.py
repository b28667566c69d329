"""Archives (roadmap 85): roll to zstd Parquet, retention, one reader and one chain across the boundary."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from quantops_trading.model import GateChanged
from quantops_trading.storage import ChainBrokenError
from quantops_trading.storage.archive import RetentionPolicy, SegmentedEventLog


def _ev(i: int) -> GateChanged:
    return GateChanged(scope="s", old="GO", new="CHECK", actor="t", reason=f"r{i}", ts_ns=1_000 + i)


def _build(path: Path, n: int, every: int) -> None:
    with SegmentedEventLog(path) as log:
        for i in range(n):
            log.append(_ev(i))
            log.apply_retention(RetentionPolicy(max_hot_rows=every))


def test_roll_archives_to_zstd_parquet_and_reader_spans_the_boundary(tmp_path: Path) -> None:
    _build(tmp_path, 250, 100)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"segment-000001.parquet", "segment-000002.parquet", "segment-000003.sqlite"} <= names
    assert not any(n.startswith(("segment-000001.sqlite", "segment-000002.sqlite")) for n in names)
    meta = pq.ParquetFile(tmp_path / "segment-000001.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    with SegmentedEventLog(tmp_path) as log:  # reopen: verifies archives + hot as one chain
        assert log.verify() == 250
        entries = list(log.entries())
        assert [e.seq for e in entries] == list(range(1, 251))
        assert entries[100].prev_hash == entries[99].hash  # the boundary links
        assert log.hot.genesis_hash == entries[199].hash and log.hot.first_seq == 201
        ev = entries[150].event()
        assert isinstance(ev, GateChanged) and ev.reason == "r150"


def test_tampered_archive_is_detected_naming_the_seq(tmp_path: Path) -> None:
    _build(tmp_path, 120, 50)
    arch = tmp_path / "segment-000002.parquet"
    frame = pl.read_parquet(arch)
    frame = frame.with_columns(
        pl.when(pl.col("seq") == 60)
        .then(pl.col("payload").str.replace("r59", "r00"))
        .otherwise(pl.col("payload"))
        .alias("payload")
    )
    frame.write_parquet(arch, compression="zstd")
    with pytest.raises(ChainBrokenError, match="seq 60"):
        SegmentedEventLog(tmp_path)


def test_missing_middle_archive_is_detected(tmp_path: Path) -> None:
    _build(tmp_path, 160, 50)
    (tmp_path / "segment-000002.parquet").unlink()
    with pytest.raises(ChainBrokenError, match="seq 51: row missing"):
        SegmentedEventLog(tmp_path)


def test_retention_keeps_n_archives_and_the_rest_still_verifies(tmp_path: Path) -> None:
    with SegmentedEventLog(tmp_path) as log:
        for i in range(300):
            log.append(_ev(i))
            log.apply_retention(RetentionPolicy(max_hot_rows=50, keep_archives=2))
        # 300 rows / 50 per segment = 6 archives, an empty hot segment 7; only the newest 2 kept
        assert [p.name for p in log.archives()] == ["segment-000005.parquet", "segment-000006.parquet"]
        assert log.verify() == 100 and next(log.entries()).seq == 201
    with SegmentedEventLog(tmp_path) as reopened:
        assert reopened.verify() == 100


def test_age_based_roll_and_crash_between_archive_and_delete(tmp_path: Path) -> None:
    now = [10_000]
    log = SegmentedEventLog(tmp_path, now_ns=lambda: now[0])
    for i in range(5):
        log.append(_ev(i))
    assert log.apply_retention(RetentionPolicy(max_hot_rows=10**6, max_hot_age_ns=60_000)) == []
    assert not log.archives()
    now[0] = 1_000 + 70_000
    log.apply_retention(RetentionPolicy(max_hot_rows=10**6, max_hot_age_ns=60_000))
    assert [p.name for p in log.archives()] == ["segment-000001.parquet"]
    log.append(_ev(5))
    log.close()
    # simulate a crash after the Parquet rename but before the next segment existed (so without
    # its head record either: a segment that vanishes while its record stays is refused, below)
    (tmp_path / "segment-000002.sqlite").unlink()
    for suffix in ("-wal", "-shm", ".head"):
        (tmp_path / f"segment-000002.sqlite{suffix}").unlink(missing_ok=True)
    with SegmentedEventLog(tmp_path) as reopened:
        assert reopened.verify() == 5 and reopened.hot.first_seq == 6
        reopened.append(_ev(6))
        assert reopened.verify() == 6


def test_a_hot_segment_that_vanishes_with_its_rows_is_refused(tmp_path: Path) -> None:
    log = SegmentedEventLog(tmp_path)
    for i in range(3):
        log.append(_ev(i))
    log.roll()
    log.append(_ev(3))  # seq 4, in segment 2
    log.close()
    for suffix in ("", "-wal", "-shm"):  # the segment's file goes, its head record stays
        (tmp_path / f"segment-000002.sqlite{suffix}").unlink(missing_ok=True)
    with pytest.raises(ChainBrokenError, match=r"segment-000002\.sqlite.*row 4 is missing"):
        SegmentedEventLog(tmp_path)
    # a roll removes the old segment's record with it; a stale one of an archived segment is dropped
    (tmp_path / "segment-000001.sqlite.head").write_text("{}")
    (tmp_path / "segment-000002.sqlite.head").unlink()
    with SegmentedEventLog(tmp_path) as reopened:
        assert reopened.verify() == 3
    assert not (tmp_path / "segment-000001.sqlite.head").exists()
