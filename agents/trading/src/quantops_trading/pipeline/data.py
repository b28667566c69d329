"""Candle windows for the pipeline: ``pair → file`` from the agent config, through the data-quality
stage on load.

Why it exists: every run records *which* data it saw (the data fingerprint) and what was done to
it. Loading goes through the schema checks (:func:`~quantops_trading.data.loaders.load_feed`) and
then :func:`~quantops_trading.data.candle_quality.prepare_candles` (de-duplication, bad prints,
gaps); the refused rows go to the quarantine store with their reasons, and :meth:`quality` is the
report the run's evidence carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from quantops_trading.data.candle_quality import prepare_candles
from quantops_trading.data.loaders import load_feed
from quantops_trading.data.quarantine import QuarantineStore

__all__ = ["CandleFiles"]


@dataclass
class CandleFiles:
    """``files`` maps a pair (``ETH/BTC``) to a candle file (relative paths: the shared data dir).

    ``quarantine`` (when given) receives each file's refused rows once, on its first load."""

    files: Mapping[str, str | Path]
    max_fill_bars: int = 5
    drop_bad_prints: bool = True
    quarantine: QuarantineStore | None = None
    _cache: dict[str, pl.DataFrame] = field(default_factory=dict)
    _reports: dict[str, dict[str, Any]] = field(default_factory=dict)

    def pairs(self) -> list[str]:
        return sorted(self.files)

    def source(self, pair: str) -> str:
        return str(self.files[pair])

    def bars(self, pair: str) -> pl.DataFrame:
        if pair not in self.files:
            raise KeyError(f"data.{pair}: no candle file configured for this pair")
        if pair not in self._cache:
            loaded = load_feed(self.files[pair], "candles")
            prepared = prepare_candles(
                loaded, max_fill_bars=self.max_fill_bars, drop_bad_prints=self.drop_bad_prints
            )
            if self.quarantine is not None:
                self.quarantine.write_rows(loaded.path.name, prepared.quarantine)
            self._cache[pair] = prepared.frame
            self._reports[pair] = prepared.report
        return self._cache[pair]

    def quality(self, pair: str) -> dict[str, Any]:
        """What the data-quality stage did to ``pair``'s file (loads it if not loaded yet)."""
        self.bars(pair)
        return self._reports.get(pair, {})
