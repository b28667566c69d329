"""Schema checks and quarantine (roadmap 81): every bad row has a reason, none is dropped."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from quantops_trading.data.loaders import load_feed, read_raw
from quantops_trading.data.quality import check_feed
from quantops_trading.data.quarantine import QuarantineStore
from quantops_trading.model import QuarantineRecord
from quantops_trading.storage import EventLog

BOOK = "orderbook/binance-spot_BTC-USDT_L2top20_20240808-09_reconstructed.csv.gz"
CANDLES = "candles/binance_XRP-ETH_1m_2019-10-11_2019-10-13.csv.gz"
TRADES = "trades/binance_XRP-ETH_trades_2019-10-11_2019-10-13.csv.gz"


def _metric(reg: CollectorRegistry, name: str, **labels: str) -> float:
    value = reg.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _corrupt(df: pl.DataFrame, row: int, **values: str) -> pl.DataFrame:
    return df.with_columns(
        [
            pl.when(pl.int_range(pl.len()) == row).then(pl.lit(v)).otherwise(pl.col(c)).alias(c)
            for c, v in values.items()
        ]
    )


def test_real_files_pass_clean() -> None:
    reg = CollectorRegistry()
    for path, kind in [(BOOK, "book"), (CANDLES, "candles"), (TRADES, "trades")]:
        feed = load_feed(path, kind, registry=reg)
        assert feed.quarantine.is_empty(), feed.result.reasons()
        assert feed.frame.height == feed.result.input_rows > 0
        assert feed.frame.schema["ts_ms"] == pl.Int64
    assert _metric(reg, "quantops_data_rows_total", feed=Path(CANDLES).name) == 3560


def test_each_defect_is_quarantined_with_its_reason_and_counted() -> None:
    reg = CollectorRegistry()
    candles = load_feed(CANDLES, "candles", registry=reg).frame.select(
        "ts_ms", "open", "high", "low", "close", "volume"
    )
    text = candles.head(12).cast(pl.String)
    text = _corrupt(text, 1, close="abc")  # wrong type
    text = _corrupt(text, 2, high="0.001", low="0.002")  # high < low
    text = _corrupt(text, 3, volume="-5")  # negative size
    text = _corrupt(text, 4, ts_ms="1570000000000")  # goes back in time
    text = _corrupt(text, 5, open="nan")  # non-finite
    text = _corrupt(text, 6, close="")  # missing value
    text = _corrupt(text, 7, ts_ms="99999999999999")  # absurd time
    result = check_feed(text, "candles", "xrp-test", registry=reg, now_ms=1_600_000_000_000)
    assert dict(zip(result.quarantine["row_index"], result.quarantine["reason"], strict=True)) == {
        1: "bad_type:close",
        2: "high_below_low",
        3: "negative_size",
        4: "non_monotonic_time",
        5: "non_finite:open",
        6: "null:close",
        7: "ts_out_of_range",
    }
    assert result.valid.height + result.quarantine.height == 12
    assert _metric(reg, "quantops_data_quarantined_rows_total", feed="xrp-test", reason="high_below_low") == 1
    assert '"close":"abc"' in result.quarantine.filter(pl.col("row_index") == 1)["raw"][0]


def test_crossed_book_negative_size_and_unsorted_levels() -> None:
    book = read_raw(load_feed(BOOK, "book").path).head(5)
    ask1 = book["ask_px_1"][1]
    book = _corrupt(book, 1, bid_px_1=str(float(ask1) + 1))
    book = _corrupt(book, 2, ask_qty_3="-0.5")
    book = _corrupt(book, 3, bid_px_5="1.0", bid_px_6="2.0")
    result = check_feed(book, "book", "book-test", registry=CollectorRegistry())
    assert result.reasons() == {"crossed_book": 1, "negative_size": 1, "unsorted_levels": 1}
    assert result.valid.height == 2


def test_missing_column_quarantines_every_row_and_trades_rules() -> None:
    reg = CollectorRegistry()
    trades = read_raw(load_feed(TRADES, "trades").path).head(6)
    result = check_feed(trades.drop("price"), "trades", "t", registry=reg)
    assert result.valid.height == 0 and result.reasons() == {"missing_column:price": 6}
    bad = _corrupt(_corrupt(trades, 0, amount="0"), 1, side="long")
    result = check_feed(bad, "trades", "t", registry=reg)
    assert result.reasons() == {"bad_side": 1, "zero_size": 1}
    with pytest.raises(TypeError, match="polars DataFrame"):
        check_feed([1, 2], "trades", "t")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a valid FeedKind"):
        check_feed(trades, "nope", "t")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["1570000000000", "1570000060000", "x", "", "-1"]),
            st.sampled_from(["1.0", "2.0", "-1", "inf", "abc", ""]),
        ),
        max_size=30,
    )
)
def test_valid_plus_quarantined_always_equals_input(rows: list[tuple[str, str]]) -> None:
    df = pl.DataFrame(
        {
            "ts_ms": [r[0] for r in rows],
            "open": [r[1] for r in rows],
            "high": ["3"] * len(rows),
            "low": ["0.5"] * len(rows),
            "close": ["1.5"] * len(rows),
            "volume": [r[1] for r in rows],
        },
        schema=dict.fromkeys(["ts_ms", "open", "high", "low", "close", "volume"], pl.String),
    )
    result = check_feed(df, "candles", "prop", registry=CollectorRegistry())
    assert result.valid.height + result.quarantine.height == len(rows)
    assert result.quarantine["reason"].null_count() == 0
    assert sorted(result.quarantine["row_index"].to_list()) == sorted(
        set(result.quarantine["row_index"].to_list())
    )


def test_quarantine_persists_to_parquet_and_event_log(tmp_path: Path) -> None:
    trades = read_raw(load_feed(TRADES, "trades").path).head(4)
    result = check_feed(
        _corrupt(trades, 2, price="-3"), "trades", "binance/xrp-eth", registry=CollectorRegistry()
    )
    store = QuarantineStore(tmp_path / "q")
    assert store.write(result) is not None
    stored = store.read("binance/xrp-eth")
    assert stored["reason"].to_list() == ["non_positive_price"] and stored["row_index"].to_list() == [2]
    with EventLog(tmp_path / "log.sqlite") as log:
        QuarantineStore.append_to_log(log, result)
        ev = next(log.entries()).event()
    assert isinstance(ev, QuarantineRecord) and ev.reason == "non_positive_price" and '"-3"' in ev.raw
