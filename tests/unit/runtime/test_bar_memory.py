"""BarMemory: what a restarted trader feeds its strategies, and what it refuses to."""

from __future__ import annotations

from pathlib import Path

from quantops_trading.runtime.bar_memory import BarMemory


def test_bars_survive_a_restart_once_bounded_and_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "bars.json"
    m = BarMemory(path, keep=3)
    for i in range(5):
        m.record("BTC/USDT", 1000 * i, 100.0 + i, now=10.0 + i)
    m.record("BTC/USDT", 4000, 999.0, now=15.0)  # the same book again: not a new bar
    m.flush()
    again = BarMemory(path, keep=3)
    assert again.load() == ""
    warm = again.take("BTC/USDT", book_ts=4500, now=16.0, poll_s=1.0)
    assert warm is not None and warm.bars == ((2000, 102.0), (3000, 103.0), (4000, 104.0))
    assert again.take("BTC/USDT", book_ts=5000, now=16.0, poll_s=1.0) is None  # handed out once
    late = BarMemory(path, max_gap_bars=10)
    late.load()
    skipped = late.take("BTC/USDT", book_ts=4500, now=26.0, poll_s=1.0)  # 12 polls down
    assert skipped is not None and not skipped.bars and "over 10 polls" in skipped.why_not
    early = BarMemory(path)
    early.load()
    assert early.take("BTC/USDT", book_ts=3500, now=15.0, poll_s=1.0).bars[-1] == (3000, 103.0)  # type: ignore[union-attr]


def test_an_unreadable_file_is_ignored_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "bars.json"
    path.write_text("{not json")
    m = BarMemory(path)
    assert "unreadable, ignored" in m.load()
    assert m.take("BTC/USDT", 1, 0.0, 1.0) is None
    path.write_text('{"version": 99, "bars": {}}')
    assert "version 99" in BarMemory(path).load()
