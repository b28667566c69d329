"""Outlier filter for price jumps: real moves vs bad prints (roadmap 88).

Why it exists: a fat-finger print or a broken tick turns into a huge return that would trigger
stops and signals; a real crash must *not* be filtered away, or the strategy trades a fantasy
price. Both look like a large return on the bar they happen; they differ on the next bar.

Method, per series (one pair, time-sorted):

1. ``ret`` = log return of close; robust scale from the **past** ``window`` returns only: rolling
   median and MAD (× 1.4826), so one jump does not inflate its own threshold;
2. a bar is a *jump* when ``|ret − median| > k · MAD`` **and** ``|ret| > min_abs_return`` (the
   latter stops flat, thin series with MAD ≈ 0 from flagging every tick). ``k`` is venue-aware
   (:class:`VenueThresholds`: noisier venues get a larger ``k``);
3. the verdict needs the next bar (so it is known one bar late — documented, not hidden):
   * ``bad_print``  — the next close comes back: ``|log(close[i+1]/close[i-1])| < revert · |ret|``;
   * ``real_move``  — the price stays at the new level and volume confirms (``volume ≥
     volume_mult`` × past median volume);
   * ``unconfirmed``— stays, but without volume: kept, flagged for review;
   * ``pending``    — the last bar: no next bar yet.

Only ``bad_print`` rows are meant to be dropped (``is_bad_print``); every verdict is counted in
``quantops_data_outliers_total{feed,verdict}``.

What it must not do: modify prices. It annotates; the caller decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
from prometheus_client import CollectorRegistry

from quantops_trading.data.metrics import data_metrics

__all__ = ["JumpVerdict", "VenueThresholds", "classify_jumps"]


class JumpVerdict:
    BAD_PRINT = "bad_print"
    REAL_MOVE = "real_move"
    UNCONFIRMED = "unconfirmed"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class VenueThresholds:
    """Robust-z threshold per venue (default ``k``) and the shared decision parameters."""

    k: float = 8.0
    per_venue: dict[str, float] = field(default_factory=lambda: {"bittrex": 10.0, "kraken": 10.0})
    min_abs_return: float = 0.02
    revert: float = 0.5
    volume_mult: float = 2.0
    window: int = 30

    def k_for(self, venue: str | None) -> float:
        return self.per_venue.get(venue or "", self.k)


def classify_jumps(
    df: pl.DataFrame,
    *,
    venue: str | None = None,
    thresholds: VenueThresholds | None = None,
    feed: str = "candles",
    registry: CollectorRegistry | None = None,
) -> pl.DataFrame:
    """Add ``ret, robust_z, jump_verdict, is_bad_print`` to one time-sorted OHLCV series."""
    th = thresholds or VenueThresholds()
    for col in ("ts_ms", "close", "volume"):
        if col not in df.columns:
            raise ValueError(f"classify_jumps({feed!r}): missing column {col!r}")
    if df.height > 1 and (df["ts_ms"].diff().drop_nulls() <= 0).any():
        raise ValueError(f"classify_jumps({feed!r}): ts_ms must be strictly increasing (one pair, deduped)")
    k = th.k_for(venue)
    ret = (pl.col("close") / pl.col("close").shift(1)).log()
    past = pl.col("ret").shift(1)
    med = past.rolling_median(window_size=th.window, min_samples=max(5, th.window // 3))
    mad = (past - med).abs().rolling_median(
        window_size=th.window, min_samples=max(5, th.window // 3)
    ) * 1.4826
    vol_med = (
        pl.col("volume").shift(1).rolling_median(window_size=th.window, min_samples=max(5, th.window // 3))
    )
    out = df.with_columns(ret.alias("ret")).with_columns(
        med.alias("__med"), mad.alias("__mad"), vol_med.alias("__vmed")
    )
    dev = (pl.col("ret") - pl.col("__med")).abs()
    robust_z = dev / pl.max_horizontal(pl.col("__mad"), pl.lit(1e-12))
    is_jump = (dev > k * pl.col("__mad")) & (pl.col("ret").abs() > th.min_abs_return)
    back = (pl.col("close").shift(-1) / pl.col("close").shift(1)).log().abs()
    verdict = (
        pl.when(~is_jump.fill_null(False))
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("close").shift(-1).is_null())
        .then(pl.lit(JumpVerdict.PENDING))
        .when(back < th.revert * pl.col("ret").abs())
        .then(pl.lit(JumpVerdict.BAD_PRINT))
        .when(pl.col("volume") >= th.volume_mult * pl.col("__vmed"))
        .then(pl.lit(JumpVerdict.REAL_MOVE))
        .otherwise(pl.lit(JumpVerdict.UNCONFIRMED))
    )
    out = out.with_columns(robust_z.alias("robust_z"), verdict.alias("jump_verdict")).with_columns(
        (pl.col("jump_verdict") == JumpVerdict.BAD_PRINT).fill_null(False).alias("is_bad_print")
    )
    counts = out.filter(pl.col("jump_verdict").is_not_null()).group_by("jump_verdict").len()
    metrics = data_metrics(registry)
    for v, n in counts.iter_rows():
        metrics.outliers.labels(feed=feed, verdict=v).inc(n)
    return out.drop("__med", "__mad", "__vmed")
