"""Candle windows for the pipeline: ``pair → file`` from the agent config, checked on load.

Why it exists: every run records *which* data it saw (the data fingerprint); loading goes through
the data package's schema checks (:func:`~quantops_trading.data.loaders.load_feed`), rows it
quarantines never reach a backtest, and duplicates are dropped with a deterministic order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from quantops_trading.data.loaders import load_feed

__all__ = ["BAR_COLUMNS", "CandleFiles"]

BAR_COLUMNS = ("ts_ms", "open", "high", "low", "close", "volume")


@dataclass
class CandleFiles:
    """``files`` maps a pair (``ETH/BTC``) to a candle file (relative paths: the shared data dir)."""

    files: Mapping[str, str | Path]
    _cache: dict[str, pl.DataFrame] = field(default_factory=dict)

    def pairs(self) -> list[str]:
        return sorted(self.files)

    def source(self, pair: str) -> str:
        return str(self.files[pair])

    def bars(self, pair: str) -> pl.DataFrame:
        if pair not in self.files:
            raise KeyError(f"data.{pair}: no candle file configured for this pair")
        if pair not in self._cache:
            feed = load_feed(self.files[pair], "candles")
            df = feed.frame.select(
                pl.col("ts_ms").cast(pl.Int64),
                *(pl.col(c).cast(pl.Float64) for c in BAR_COLUMNS[1:]),
            )
            self._cache[pair] = df.unique("ts_ms", keep="first", maintain_order=True).sort("ts_ms")
        return self._cache[pair]
