"""De-duplication with a deterministic ordering (roadmap 82).

Why it exists: replays, reconnects and overlapping downloads deliver the same candle or trade
twice, and a backtest must give the same answer whatever order the rows arrived in. Every
function here returns rows in a **total** order over all content columns, so the same multiset of
input rows in any order gives a byte-identical output.

Rules (documented in docs/data-and-storage.md):

* **Candles / keyed points**: one row per key (``pair``, ``ts_ms``). Exact duplicates collapse.
  Conflicting rows for one key keep the one with the largest ``volume`` (the most complete
  revision of the bar), ties broken by the full-row order; ``conflicts`` counts such keys.
* **Trades**: a row with a ``trade_id`` is unique per (``pair``, ``trade_id``). A row **without**
  a trade id is never collapsed, even if an identical row exists: Kraken publishes no trade id,
  and two fills of the same size at the same price in the same millisecond are real, distinct
  trades (e.g. ``kraken_BCH-EUR_trades_2023-01-01``). Dropping them would under-count volume.

Lineage columns are not part of a row's identity (the same row ingested twice is a duplicate) and
``lineage_transforms`` gains ``dedup@1`` when present.

What it must not do: validate (``quality.py``) or fill gaps (``gaps.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from prometheus_client import CollectorRegistry

from quantops_trading.data.lineage import has_lineage, tag_transform
from quantops_trading.data.metrics import data_metrics

__all__ = ["DEDUP_VERSION", "DedupResult", "dedup_candles", "dedup_points", "dedup_trades"]

DEDUP_VERSION = 1


@dataclass(frozen=True, slots=True)
class DedupResult:
    frame: pl.DataFrame
    removed: int
    conflicts: int


def _content_columns(df: pl.DataFrame) -> list[str]:
    return [c for c in df.columns if not c.startswith("lineage_")]


def _total_order(df: pl.DataFrame, first: list[str]) -> pl.DataFrame:
    """Sort by ``first`` then every other content column (nulls last): a total order on content."""
    rest = [c for c in _content_columns(df) if c not in first]
    sortable = [c for c in first + rest if df.schema[c].is_numeric() or df.schema[c] == pl.String]
    return df.sort(sortable, nulls_last=True, maintain_order=True)


def _finish(
    df: pl.DataFrame, before: int, conflicts: int, feed: str, reg: CollectorRegistry | None
) -> DedupResult:
    if has_lineage(df):
        df = tag_transform(df, "dedup", DEDUP_VERSION)
    removed = before - df.height
    if removed:
        data_metrics(reg).duplicates.labels(feed=feed).inc(removed)
    return DedupResult(df, removed, conflicts)


def dedup_points(
    df: pl.DataFrame,
    keys: list[str],
    *,
    prefer_max: str | None = None,
    feed: str = "points",
    registry: CollectorRegistry | None = None,
) -> DedupResult:
    """One row per ``keys``; among conflicting rows keep the max ``prefer_max`` (then full order)."""
    missing = [k for k in keys + ([prefer_max] if prefer_max else []) if k not in df.columns]
    if missing:
        raise ValueError(f"dedup of {feed!r}: missing key columns {missing}")
    ordered = _total_order(df, keys)
    content = _content_columns(df)
    distinct = ordered.unique(subset=content, keep="first", maintain_order=True)
    conflicts = distinct.height - distinct.select(keys).unique().height
    if prefer_max is not None:
        ranked = distinct.sort(
            [*keys, prefer_max], descending=[False] * len(keys) + [True], maintain_order=True
        )
    else:
        ranked = distinct
    winners = ranked.unique(subset=keys, keep="first", maintain_order=True)
    return _finish(_total_order(winners, keys), df.height, conflicts, feed, registry)


def dedup_candles(
    df: pl.DataFrame, *, feed: str = "candles", registry: CollectorRegistry | None = None
) -> DedupResult:
    """One candle per (``pair``, ``ts_ms``): exact duplicates collapse, conflicts keep max volume."""
    keys = (["pair"] if "pair" in df.columns else []) + ["ts_ms"]
    return dedup_points(df, keys, prefer_max="volume", feed=feed, registry=registry)


def dedup_trades(
    df: pl.DataFrame, *, feed: str = "trades", registry: CollectorRegistry | None = None
) -> DedupResult:
    """Unique per trade id; rows without a trade id are all kept (see module docstring)."""
    for col in ("ts_ms", "trade_id", "price", "amount"):
        if col not in df.columns:
            raise ValueError(f"dedup of {feed!r}: missing column {col!r}")
    pair = ["pair"] if "pair" in df.columns else []
    with_id = df.filter(pl.col("trade_id").is_not_null() & (pl.col("trade_id").cast(pl.String) != ""))
    without_id = df.filter(pl.col("trade_id").is_null() | (pl.col("trade_id").cast(pl.String) == ""))
    content = _content_columns(df)
    ordered = _total_order(with_id, [*pair, "trade_id"])
    distinct = ordered.unique(subset=content, keep="first", maintain_order=True)
    winners = distinct.unique(subset=[*pair, "trade_id"], keep="first", maintain_order=True)
    conflicts = distinct.height - winners.height
    merged = pl.concat([winners, without_id], how="vertical")
    return _finish(_total_order(merged, [*pair, "ts_ms"]), df.height, conflicts, feed, registry)
