"""De-duplication (roadmap 82) and gap policy (roadmap 83) on the real files."""

from __future__ import annotations

import polars as pl
import pytest
from prometheus_client import CollectorRegistry

from quantops_trading.data.dedup import dedup_candles, dedup_trades
from quantops_trading.data.gaps import Criticality, GapPolicy, fill_gaps
from quantops_trading.data.loaders import load_feed

XRP_1M = "candles/binance_XRP-ETH_1m_2019-10-11_2019-10-13.csv.gz"
XRP_TRADES = "trades/binance_XRP-ETH_trades_2019-10-11_2019-10-13.csv.gz"
KRAKEN = "trades/kraken_BCH-EUR_trades_2023-01-01.csv.gz"
ADA_1M = "candles/bittrex_ADA-BTC_1m_2018-01-20_2018-01-30.csv.gz"
ADA_5M = "candles/bittrex_ADA-BTC_5m_2018-01-10_2018-01-30.csv.gz"
DASH_1M = "candles/bittrex_DASH-BTC_1m_2018-01-20_2018-01-30.csv.gz"


def _bytes(df: pl.DataFrame) -> str:
    return df.write_csv()


def test_candles_dedup_is_order_independent_and_byte_identical() -> None:
    candles = load_feed(XRP_1M, "candles", ingest_ts_ns=1).frame
    messy = pl.concat([candles, candles.sample(fraction=0.3, seed=1)]).sample(
        fraction=1.0, shuffle=True, seed=2
    )
    other = pl.concat([candles.sample(fraction=0.3, seed=3), candles]).reverse()
    a, b = dedup_candles(messy), dedup_candles(other)
    assert _bytes(a.frame) == _bytes(b.frame)
    assert a.frame.drop("lineage_transforms").equals(candles.drop("lineage_transforms"))
    assert a.removed == messy.height - candles.height and a.conflicts == 0
    assert a.frame["lineage_transforms"][0] == "schema_check@1|dedup@1"


def test_conflicting_candle_revisions_keep_max_volume_deterministically() -> None:
    candles = load_feed(XRP_1M, "candles").frame.head(5)
    revised = candles.slice(2, 1).with_columns(volume=pl.col("volume") + 100.0, close=pl.col("close") * 1.001)
    reg = CollectorRegistry()
    out1 = dedup_candles(pl.concat([candles, revised]), registry=reg, feed="c")
    out2 = dedup_candles(pl.concat([revised, candles]), registry=reg, feed="c")
    assert _bytes(out1.frame) == _bytes(out2.frame)
    assert out1.conflicts == 1 and out1.frame.height == 5
    assert out1.frame["volume"][2] == revised["volume"][0]
    assert reg.get_sample_value("quantops_data_duplicates_total", {"feed": "c"}) == 2


def test_trades_with_ids_collapse_but_kraken_repeats_without_id_survive() -> None:
    trades = load_feed(XRP_TRADES, "trades").frame
    replayed = pl.concat([trades.tail(500), trades]).sample(fraction=1.0, shuffle=True, seed=7)
    out = dedup_trades(replayed)
    assert out.frame.height == trades.height == 12_477 and out.removed == 500
    assert _bytes(out.frame) == _bytes(dedup_trades(trades.reverse()).frame)

    kraken = load_feed(KRAKEN, "trades").frame
    assert kraken["trade_id"].null_count() == kraken.height  # Kraken: no trade ids
    exact_repeats = kraken.height - kraken.drop("lineage_ingest_ts_ns").unique().height
    assert exact_repeats >= 1  # the file has identical rows that are distinct fills
    kept = dedup_trades(kraken.sample(fraction=1.0, shuffle=True, seed=3))
    assert kept.frame.height == kraken.height and kept.removed == 0
    assert _bytes(kept.frame) == _bytes(dedup_trades(kraken).frame)


def test_non_critical_feed_forward_fills_flat_flagged_bars() -> None:
    ada = dedup_candles(load_feed(ADA_1M, "candles").frame).frame
    reg = CollectorRegistry()
    report = fill_gaps(ada, 60_000, GapPolicy(Criticality.NON_CRITICAL), feed="ada", registry=reg)
    out = report.frame
    assert out.height == 14_383 + 14 and len(report.gaps) == 14
    filled = out.filter(pl.col("is_filled"))
    assert filled.height == 14 and out["tradable"].all()
    assert (filled["volume"] == 0).all()
    assert (filled["open"] == filled["close"]).all() and (filled["high"] == filled["low"]).all()
    first = filled["ts_ms"][0]
    prev_close = out.filter(pl.col("ts_ms") == first - 60_000)["close"][0]
    assert filled["close"][0] == prev_close
    assert (
        out.filter(~pl.col("is_filled"))
        .drop("is_filled", "tradable", "lineage_transforms")
        .equals(ada.drop("lineage_transforms"))
    )
    assert reg.get_sample_value("quantops_data_filled_bars_total", {"feed": "ada"}) == 14


def test_critical_feed_marks_gap_no_go_and_never_invents_prices() -> None:
    dash = load_feed(DASH_1M, "candles").frame
    report = fill_gaps(dash, 60_000, GapPolicy(Criticality.CRITICAL), feed="dash")
    assert len(report.gaps) == 1493 and sum(g.missing_bars for g in report.gaps) == 1954
    gap_rows = report.frame.filter(pl.col("is_filled"))
    assert gap_rows.height == 1954 and gap_rows["close"].null_count() == 1954
    assert not gap_rows["tradable"].any()
    g = report.gaps[0]
    assert not report.is_tradable(g.start_ms) and report.is_tradable(g.end_ms)
    assert len(report.events()) == 1493 and report.events()[0].missing_bars == g.missing_bars


def test_long_hole_is_not_filled_even_on_non_critical_feed() -> None:
    ada5 = load_feed(ADA_5M, "candles").frame
    report = fill_gaps(ada5, 300_000, GapPolicy(Criticality.NON_CRITICAL, max_fill_bars=12), feed="ada5")
    halt = max(report.gaps, key=lambda g: g.missing_bars)
    assert halt.missing_bars == 33 and not halt.filled
    assert not report.is_tradable(halt.start_ms + 300_000)
    assert sum(g.missing_bars for g in report.gaps if g.filled) == 40 - 33


def test_gap_fill_rejects_unsorted_or_misaligned_input() -> None:
    ada = load_feed(ADA_1M, "candles").frame.head(10)
    with pytest.raises(ValueError, match="strictly increasing"):
        fill_gaps(ada.reverse(), 60_000, GapPolicy())
    with pytest.raises(ValueError, match="aligned"):
        fill_gaps(ada, 7_000, GapPolicy())
