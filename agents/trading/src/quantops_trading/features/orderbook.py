"""Order-book features from L2 depth snapshots (roadmap 37).

Why it exists: execution and short-horizon signals need the state of the book, not just prices:
how wide it is, where the "fair" price sits given queue sizes, which side is heavier, how fast
liquidity thins away from the touch, and when depth suddenly collapses. Input is the wide L2
frame of ``orderbook/*_L2top20_*.csv.gz`` (``bid_px_i, bid_qty_i, ask_px_i, ask_qty_i``, level 1 =
best), after schema checks (``data/quality.py`` quarantines crossed books and negative sizes).

Features (all polars expressions, lazy, per row = per book update):

* ``mid``, ``spread``, ``spread_bps``;
* ``microprice`` = (bid·ask_qty₁ + ask·bid_qty₁) / (bid_qty₁ + ask_qty₁) — leans toward the side
  about to be consumed;
* ``imb_k`` for k in ``levels`` — depth-weighted imbalance Σ wᵢ(bqᵢ − aqᵢ) / Σ wᵢ(bqᵢ + aqᵢ) over the
  first k levels with wᵢ = 1/i (near levels count more), in [−1, 1];
* ``depth_bid_k``/``depth_ask_k`` — base quantity within k levels (k = max level);
* ``slope_bid``/``slope_ask`` — quantity per unit of price distance from mid to level k
  (steep = deep book); ``book_slope`` is their mean;
* ``liq_shock`` — True when total depth falls below ``shock_ratio`` × the rolling median of the
  previous ``shock_window`` updates (strictly past rows: no look-ahead), ``depth_ratio`` is the
  ratio itself.

What it must not do: rebuild books from diffs (the files are already reconstructed) or trade.
"""

from __future__ import annotations

import polars as pl

from quantops_trading.data.schemas import book_levels

__all__ = ["BOOK_FEATURE_COLUMNS", "book_features"]

BOOK_FEATURE_COLUMNS = (
    "mid",
    "spread",
    "spread_bps",
    "microprice",
    "slope_bid",
    "slope_ask",
    "book_slope",
    "depth_ratio",
    "liq_shock",
)


def _weighted(side: str, k: int) -> pl.Expr:
    return pl.sum_horizontal([pl.col(f"{side}_qty_{i}") / i for i in range(1, k + 1)])


def book_features(
    book: pl.LazyFrame | pl.DataFrame,
    *,
    levels: tuple[int, ...] = (1, 5, 10, 20),
    shock_window: int = 50,
    shock_ratio: float = 0.5,
    by: str | None = None,
) -> pl.LazyFrame:
    """Lazy order-book features of ``book`` (one row per update, time-sorted; ``by`` = pair column)."""
    lf = book.lazy()
    names = lf.collect_schema().names()
    available = book_levels(names)
    if available == 0:
        raise ValueError("book_features: no complete book level (bid_px_1, bid_qty_1, ask_px_1, ask_qty_1)")
    too_deep = [k for k in levels if k < 1 or k > available]
    if too_deep:
        raise ValueError(f"book_features: levels {too_deep} not available (book has {available} levels)")
    if shock_window < 2 or not 0 < shock_ratio < 1:
        raise ValueError(
            f"shock_window must be >= 2 and 0 < shock_ratio < 1, got {shock_window}, {shock_ratio}"
        )
    deepest = max(levels)
    bid, ask = pl.col("bid_px_1"), pl.col("ask_px_1")
    bq, aq = pl.col("bid_qty_1"), pl.col("ask_qty_1")
    mid = (bid + ask) / 2
    depth_bid = pl.sum_horizontal([pl.col(f"bid_qty_{i}") for i in range(1, deepest + 1)])
    depth_ask = pl.sum_horizontal([pl.col(f"ask_qty_{i}") for i in range(1, deepest + 1)])
    imbalances = []
    for k in levels:
        wb, wa = _weighted("bid", k), _weighted("ask", k)
        imbalances.append(((wb - wa) / (wb + wa)).alias(f"imb_{k}"))
    out = lf.with_columns(
        mid.alias("mid"),
        (ask - bid).alias("spread"),
        ((ask - bid) / mid * 1e4).alias("spread_bps"),
        ((bid * aq + ask * bq) / (bq + aq)).alias("microprice"),
        *imbalances,
        depth_bid.alias(f"depth_bid_{deepest}"),
        depth_ask.alias(f"depth_ask_{deepest}"),
        (depth_bid / (mid - pl.col(f"bid_px_{deepest}"))).alias("slope_bid"),
        (depth_ask / (pl.col(f"ask_px_{deepest}") - mid)).alias("slope_ask"),
    ).with_columns(((pl.col("slope_bid") + pl.col("slope_ask")) / 2).alias("book_slope"))
    total = pl.col(f"depth_bid_{deepest}") + pl.col(f"depth_ask_{deepest}")
    past_median = total.shift(1).rolling_median(window_size=shock_window, min_samples=shock_window)
    if by is not None:
        past_median = past_median.over(by)
    ratio = total / past_median
    return out.with_columns(ratio.alias("depth_ratio")).with_columns(
        (pl.col("depth_ratio") < shock_ratio).fill_null(False).alias("liq_shock")
    )
