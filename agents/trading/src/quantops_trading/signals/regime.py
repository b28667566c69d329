"""Regime detection (trend / range / high-vol) from rolling features, and per-regime strategy weights (39).

Why it exists: momentum earns in trends and bleeds in ranges, mean reversion the other way round,
and both should shrink when volatility explodes. The regime decides the ensemble weights
(``signals.arbitration.ensemble``) and is passed to the RiskGateway with each order request.

Input: a frame of closed bars with the ``rv`` feature from ``features.rolling`` (one row per bar,
optionally many ``pair`` s). Added columns, all causal (row ``i`` uses rows ``<= i`` only):

* ``efficiency`` — Kaufman efficiency ratio over ``window`` bars:
  ``|close_i - close_{i-window}| / Σ|Δclose|`` in [0, 1] (1 = straight line, 0 = pure chop);
* ``rv_threshold`` — the ``high_vol_quantile`` of *previous* ``rv`` values (``vol_lookback`` bars);
* ``regime`` — ``high_vol`` if ``rv > rv_threshold``, else ``trend`` if
  ``efficiency >= trend_efficiency``, else ``range``; null until enough history exists.

What it must not do: look at future rows (a truncation test pins it) or pick strategies itself.
"""

from __future__ import annotations

from enum import StrEnum

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_WEIGHTS", "Regime", "RegimeConfig", "RegimeWeights", "detect_regimes"]


class Regime(StrEnum):
    TREND = "trend"
    RANGE = "range"
    HIGH_VOL = "high_vol"


class RegimeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    window: int = Field(default=30, ge=2)
    trend_efficiency: float = Field(default=0.3, gt=0.0, lt=1.0)
    vol_lookback: int = Field(default=720, ge=20)
    high_vol_quantile: float = Field(default=0.9, gt=0.5, lt=1.0)


class RegimeWeights(BaseModel):
    """Strategy-family weights per regime (families: ``momentum``, ``mean_reversion``, …)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trend: dict[str, float] = Field(default_factory=lambda: {"momentum": 1.0, "mean_reversion": 0.2})
    range: dict[str, float] = Field(default_factory=lambda: {"momentum": 0.2, "mean_reversion": 1.0})
    high_vol: dict[str, float] = Field(default_factory=lambda: {"momentum": 0.4, "mean_reversion": 0.1})

    def for_regime(self, regime: Regime | str | None) -> dict[str, float]:
        """Weights of ``regime``; an unknown regime (warm-up) gets the most defensive set."""
        if regime is None:
            return dict(self.high_vol)
        return dict(getattr(self, Regime(regime).value))


DEFAULT_WEIGHTS = RegimeWeights()


def detect_regimes(features: pl.DataFrame, config: RegimeConfig | None = None) -> pl.DataFrame:
    """Add ``efficiency``, ``rv_threshold`` and ``regime`` (see module docstring); sorted by pair, time."""
    cfg = config or RegimeConfig()
    if "rv" not in features.columns:
        raise ValueError("detect_regimes needs the 'rv' feature (features.rolling_features)")
    keys = ["pair"] if "pair" in features.columns else []
    df = features.sort([*keys, "ts_ms"])

    def per_pair(e: pl.Expr) -> pl.Expr:
        return e.over(keys) if keys else e

    close = pl.col("close")
    net = per_pair((close - close.shift(cfg.window)).abs())
    path = per_pair(close.diff().abs().rolling_sum(window_size=cfg.window, min_samples=cfg.window))
    past_rv = per_pair(
        pl.col("rv")
        .shift(1)
        .rolling_quantile(
            quantile=cfg.high_vol_quantile,
            window_size=cfg.vol_lookback,
            min_samples=cfg.vol_lookback // 2,
            interpolation="linear",
        )
    )
    df = df.with_columns(
        pl.when(path > 0).then(net / path).otherwise(0.0).alias("efficiency"),
        past_rv.alias("rv_threshold"),
    )
    regime = (
        pl.when(pl.col("rv").is_null() | pl.col("rv").is_nan() | pl.col("rv_threshold").is_null())
        .then(None)
        .when(pl.col("rv") > pl.col("rv_threshold"))
        .then(pl.lit(Regime.HIGH_VOL.value))
        .when(pl.col("efficiency") >= cfg.trend_efficiency)
        .then(pl.lit(Regime.TREND.value))
        .when(pl.col("efficiency").is_not_null())
        .then(pl.lit(Regime.RANGE.value))
        .otherwise(None)
    )
    return df.with_columns(regime.alias("regime"))
