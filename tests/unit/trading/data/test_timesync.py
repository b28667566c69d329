"""Time-sync checks (roadmap 89) on the real skewed L2 recordings and the TZ-shifted Bittrex file."""

from __future__ import annotations

import polars as pl
import pytest

from quantops_trading.data.loaders import load_feed
from quantops_trading.data.timesync import check_timestamps, detect_time_shift, estimate_clock_offset

BOOK = "orderbook/binance-spot_BTC-USDT_L2top20_20240808-09_reconstructed.csv.gz"
SHIFTED = "candles/defects/bittrex_ETH-BTC_1m_TZSHIFTED_plus1h_2018-01-25_2018-02-04.csv.gz"
REFERENCE = "candles/bittrex_ETH-BTC_1m_2018-01-20_2018-01-30.csv.gz"


def test_receiver_clock_skew_of_the_l2_recording_is_detected_and_estimated() -> None:
    book = load_feed(BOOK, "book").frame
    offset = estimate_clock_offset(book["ts_ms"], book["local_ts_ns"])
    assert offset.skewed
    assert -1276 <= offset.median_ms <= -1259  # README: median -1273 ms, range -1276..-1259
    assert offset.median_ms == pytest.approx(-1273, abs=2)
    with pytest.raises(ValueError, match="length mismatch"):
        estimate_clock_offset(book["ts_ms"], book["local_ts_ns"].head(3))


def test_every_timestamp_field_is_checked_for_future_range_and_order() -> None:
    book = load_feed(BOOK, "book").frame.select("ts_ms", "local_ts_ns").head(200)
    now = int(book["ts_ms"].max()) + 60_000  # type: ignore[arg-type]
    reports = check_timestamps(book, {"ts_ms": "ms", "local_ts_ns": "ns"}, now_ms=now)
    assert all(r.ok for r in reports)
    bad = book.with_columns(
        pl.when(pl.int_range(pl.len()) == 10)
        .then(pl.col("ts_ms") + 86_400_000)
        .otherwise(pl.col("ts_ms"))
        .alias("ts_ms")
    )
    (ts_report, _) = check_timestamps(bad, {"ts_ms": "ms", "local_ts_ns": "ns"}, now_ms=now)
    assert ts_report.future == 1 and ts_report.backwards == 1 and not ts_report.ok
    with pytest.raises(ValueError, match="unit"):
        check_timestamps(book, {"ts_ms": "us"}, now_ms=now)


def test_timezone_shifted_file_is_detected_as_minus_one_hour() -> None:
    shifted = load_feed(SHIFTED, "candles").frame
    reference = load_feed(REFERENCE, "candles").frame
    shift = detect_time_shift(shifted, reference)
    assert shift.shift_ms == -3_600_000
    assert shift.match_fraction == 1.0 and shift.overlap == 6541  # README: 6,541 overlapping closes equal
    assert shift.unshifted_match_fraction < 0.01
    # the correct file against itself needs no shift
    assert detect_time_shift(reference, reference).shift_ms == 0
