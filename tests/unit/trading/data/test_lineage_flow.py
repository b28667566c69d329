"""Lineage (roadmap 90): tags survive dedup, gap fill, resampling and features into signals and orders."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from quantops_trading.data.dedup import dedup_candles
from quantops_trading.data.gaps import Criticality, GapPolicy, fill_gaps
from quantops_trading.data.lineage import lineage_of_row, tag_transform
from quantops_trading.data.loaders import load_feed
from quantops_trading.features.rolling import multi_horizon_features
from quantops_trading.model import LINEAGE_COLUMNS, Order, OrderSubmitted, SignalEmitted
from quantops_trading.storage import EventLog

ADA_1M = "candles/bittrex_ADA-BTC_1m_2018-01-20_2018-01-30.csv.gz"


def test_lineage_survives_the_pipeline_into_signal_and_order_events(tmp_path: Path) -> None:
    feed = load_feed(ADA_1M, "candles", ingest_ts_ns=42)
    bars = dedup_candles(feed.frame).frame
    bars = fill_gaps(bars, 60_000, GapPolicy(Criticality.NON_CRITICAL)).frame
    feats = multi_horizon_features(bars)
    assert all(c in feats.columns for c in LINEAGE_COLUMNS)
    assert feats["lineage_stream"].null_count() == 0
    row = feats.filter(pl.col("horizon") == "1h").row(-2, named=True)
    lineage = lineage_of_row(row)
    assert lineage == {
        "source": "candles",
        "venue": "bittrex",
        "stream": "bittrex_ADA-BTC_1m_2018-01-20_2018-01-30.csv.gz",
        "ingest_ts_ns": 42,
        "transforms": "schema_check@1|dedup@1|gapfill_non_critical@1|resample_1h@1",
    }
    signal = SignalEmitted(strategy_id="s1", instrument_id=row["pair"], value=0.5, lineage=lineage)
    order = Order.model_validate(
        {
            "client_order_id": "c1",
            "strategy_id": "s1",
            "instrument_id": row["pair"],
            "side": "buy",
            "type": "market",
            "quantity": "10",
        }
    )
    with EventLog(tmp_path / "s1.sqlite") as log:
        log.append_many([signal, OrderSubmitted(order=order, lineage=signal.lineage)])
        stored = [e.event() for e in log.entries()]
    assert isinstance(stored[1], OrderSubmitted) and stored[1].lineage == lineage


def test_rows_without_lineage_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="row has no lineage"):
        lineage_of_row({"close": 1.0})
    with pytest.raises(ValueError, match="no lineage columns"):
        tag_transform(pl.DataFrame({"a": [1]}), "x", 1)
