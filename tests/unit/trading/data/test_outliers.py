"""Outlier filter (roadmap 88): the real 2021-12-04 crash stays, an injected bad print is flagged."""

from __future__ import annotations

import polars as pl
import pytest
from prometheus_client import CollectorRegistry

from quantops_trading.data.loaders import load_feed
from quantops_trading.data.outliers import VenueThresholds, classify_jumps

MARK_8H = "candles/perp_XRP-USDT_mark_8h_2021-11-18_2021-12-18.csv.gz"
ETH_1M = "candles/bittrex_ETH-BTC_1m_2018-01-20_2018-01-30.csv.gz"
CRASH_MS = 1_638_576_000_000  # 2021-12-04 00:00 UTC


def test_real_crash_is_a_real_move_not_filtered() -> None:
    reg = CollectorRegistry()
    out = classify_jumps(load_feed(MARK_8H, "candles").frame, venue="binance-usdm", feed="mark", registry=reg)
    crash = out.filter(pl.col("ts_ms") == CRASH_MS).row(0, named=True)
    assert crash["ret"] == pytest.approx(-0.2061, abs=1e-4)
    assert crash["jump_verdict"] == "real_move" and not crash["is_bad_print"]
    assert not out["is_bad_print"].any()
    assert reg.get_sample_value("quantops_data_outliers_total", {"feed": "mark", "verdict": "real_move"}) >= 1


def _inject(df: pl.DataFrame, at: int, factor: float) -> pl.DataFrame:
    hit = pl.int_range(pl.len()) == at
    return df.with_columns(
        [
            pl.when(hit).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close")
        ]
    )


def test_injected_bad_print_is_flagged_and_nothing_else_in_real_1m_data() -> None:
    eth = load_feed(ETH_1M, "candles").frame
    clean = classify_jumps(eth, venue="bittrex")
    assert not clean["is_bad_print"].any()
    dirty = classify_jumps(_inject(eth, 5000, 1.25), venue="bittrex")
    flagged = dirty.filter(pl.col("is_bad_print"))
    assert flagged.height == 1 and flagged["ts_ms"][0] == eth["ts_ms"][5000]
    down = classify_jumps(_inject(eth, 9000, 0.7), venue="bittrex")
    assert down.filter(pl.col("is_bad_print"))["ts_ms"].to_list() == [eth["ts_ms"][9000]]


def test_last_bar_jump_is_pending_and_thresholds_are_venue_aware() -> None:
    eth = load_feed(ETH_1M, "candles").frame.head(400)
    out = classify_jumps(_inject(eth, 399, 1.25), venue="bittrex")
    assert out["jump_verdict"][-1] == "pending" and not out["is_bad_print"][-1]
    th = VenueThresholds()
    assert th.k_for("bittrex") > th.k_for("binance")
    with pytest.raises(ValueError, match="strictly increasing"):
        classify_jumps(eth.reverse())
