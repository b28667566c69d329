"""Order-book features (roadmap 37) on the real Binance L2 top-20 reconstructions."""

from __future__ import annotations

import math

import polars as pl
import pytest

from quantops_trading.data.loaders import load_feed
from quantops_trading.features.orderbook import book_features

SPOT = "orderbook/binance-spot_BTC-USDT_L2top20_20240808-09_reconstructed.csv.gz"
PERP = "orderbook/binance-usdm_BTCUSDT-PERP_L2top20_20240808_reconstructed.csv.gz"


@pytest.fixture(scope="module")
def spot() -> pl.DataFrame:
    return load_feed(SPOT, "book").frame


def test_features_match_a_hand_computation_on_a_real_row(spot: pl.DataFrame) -> None:
    feats = book_features(spot).collect()
    row = spot.row(100, named=True)
    f = feats.row(100, named=True)
    bid, ask, bq, aq = row["bid_px_1"], row["ask_px_1"], row["bid_qty_1"], row["ask_qty_1"]
    assert f["spread"] == pytest.approx(ask - bid) and f["mid"] == pytest.approx((bid + ask) / 2)
    assert f["microprice"] == pytest.approx((bid * aq + ask * bq) / (bq + aq))
    wb = sum(row[f"bid_qty_{i}"] / i for i in range(1, 6))
    wa = sum(row[f"ask_qty_{i}"] / i for i in range(1, 6))
    assert f["imb_5"] == pytest.approx((wb - wa) / (wb + wa))
    depth_bid = sum(row[f"bid_qty_{i}"] for i in range(1, 21))
    assert f["slope_bid"] == pytest.approx(depth_bid / ((bid + ask) / 2 - row["bid_px_20"]))


def test_invariants_hold_on_both_real_books(spot: pl.DataFrame) -> None:
    for frame in (spot, load_feed(PERP, "book").frame):
        feats = book_features(frame).collect()
        assert feats.height == frame.height
        assert (feats["spread"] > 0).all()
        assert ((feats["microprice"] >= feats["bid_px_1"]) & (feats["microprice"] <= feats["ask_px_1"])).all()
        for k in (1, 5, 10, 20):
            col = feats[f"imb_{k}"]
            assert col.min() >= -1 and col.max() <= 1  # type: ignore[operator]
        assert (feats["book_slope"] > 0).all()
        assert feats["liq_shock"].sum() < frame.height * 0.05  # collapses are rare events (perp: 251)


def test_injected_depth_collapse_is_a_liquidity_shock_without_look_ahead(spot: pl.DataFrame) -> None:
    at = 3000
    qty_cols = [c for c in spot.columns if "_qty_" in c]
    collapsed = spot.with_columns(
        [
            pl.when(pl.int_range(pl.len()) == at).then(pl.col(c) * 0.05).otherwise(pl.col(c)).alias(c)
            for c in qty_cols
        ]
    )
    feats = book_features(collapsed).collect()
    assert feats["liq_shock"][at] and feats["depth_ratio"][at] < 0.1
    assert not feats["liq_shock"][at - 1]
    # the row before the shock is identical whether or not the future holds the collapse
    before = book_features(collapsed.head(at)).collect()
    assert before.row(at - 1) == feats.row(at - 1)


def test_bad_parameters_fail_clearly(spot: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="levels \\[40\\] not available"):
        book_features(spot, levels=(1, 40))
    with pytest.raises(ValueError, match="no complete book level"):
        book_features(pl.DataFrame({"ts_ms": [1]}))
    assert math.isfinite(book_features(spot.head(3), shock_window=2).collect()["mid"][0])
