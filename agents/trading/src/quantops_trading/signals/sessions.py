"""Market-hours aware behaviour: per-hour liquidity profiles, sessions and breaks learned from data (46).

Why it exists: crypto trades 24/7 but its liquidity does not — and the non-crypto instruments the
platform may hedge with (CME FX futures, spot FX) have real sessions: CME Globex stops daily for an
hour and over the weekend, FX closes Friday evening to Sunday evening (both visible in the shared
``6EH4`` and FXCM GBP/USD files). A strategy must not open a position minutes before a close or
quote full size into the thinnest hour of the week.

* :func:`hourly_profile` — per hour-of-week (0 = Monday 00:00 UTC … 167): share of minutes with a
  bar (``coverage``), median volume and, when bid/ask are present, median spread in bps;
* :class:`SessionCalendar` — learned from bar timestamps: an hour-of-week with coverage below
  ``min_coverage`` is *closed*; answers ``is_open`` and ``minutes_to_close``;
* :class:`BehaviourProfile` — per hour ``closed`` / ``thin`` / ``normal`` (thin = liquidity in the
  lowest ``thin_quantile`` of open hours) → ``allow_new_entries`` and a ``size_multiplier``;
  new entries are also refused within ``no_entry_before_close_min`` of a close.

What it must not do: hard-code exchange calendars (they are learned and can be overridden by
passing ``closed_hours``) or use profile data from the future of the period it is applied to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

__all__ = ["Behaviour", "BehaviourProfile", "SessionCalendar", "hour_of_week", "hourly_profile"]

HOURS_PER_WEEK = 168
_MS_PER_HOUR = 3_600_000


def hour_of_week(ts_ms: int) -> int:
    """0 = Monday 00:00–00:59 UTC … 167 = Sunday 23:00–23:59 UTC (epoch day 0 was a Thursday)."""
    hours = ts_ms // _MS_PER_HOUR
    return int((hours + 3 * 24) % HOURS_PER_WEEK)


def hourly_profile(bars: pl.DataFrame, bar_ms: int = 60_000) -> pl.DataFrame:
    """One row per hour-of-week: ``coverage``, ``volume`` (median) and ``spread_bps`` (median, if bid/ask)."""
    df = bars.with_columns(
        ((pl.col("ts_ms") // _MS_PER_HOUR + 72) % HOURS_PER_WEEK).cast(pl.Int64).alias("how"),
        (pl.col("ts_ms") // _MS_PER_HOUR).alias("hour_abs"),
    )
    ts = df["ts_ms"].to_numpy()
    span_hours = np.arange(int(ts.min()) // _MS_PER_HOUR, int(ts.max()) // _MS_PER_HOUR + 1)
    weeks = pl.DataFrame({"how": (span_hours + 72) % HOURS_PER_WEEK}).group_by("how").len("occurrences")
    aggs = [pl.len().alias("bars")]
    if "volume" in df.columns:
        aggs.append(pl.col("volume").median().alias("volume"))
    if "ask_close" in df.columns:
        mid = (pl.col("ask_close") + pl.col("close")) / 2
        aggs.append(((pl.col("ask_close") - pl.col("close")) / mid * 1e4).median().alias("spread_bps"))
    per = df.group_by("how").agg(aggs)
    out = pl.DataFrame({"how": np.arange(HOURS_PER_WEEK, dtype=np.int64)}).join(weeks, on="how", how="left")
    out = out.join(per, on="how", how="left").with_columns(pl.col("bars").fill_null(0))
    per_hour = _MS_PER_HOUR // bar_ms
    return out.with_columns(
        (pl.col("bars") / (pl.col("occurrences").fill_null(0) * per_hour))
        .fill_nan(0.0)
        .fill_null(0.0)
        .alias("coverage")
    )


@dataclass(frozen=True, slots=True)
class SessionCalendar:
    closed_hours: frozenset[int]

    @classmethod
    def learn(cls, profile: pl.DataFrame, min_coverage: float = 0.02) -> SessionCalendar:
        known = profile.filter(pl.col("occurrences").fill_null(0) > 0)
        closed = known.filter(pl.col("coverage") < min_coverage)["how"].to_list()
        return cls(frozenset(int(h) for h in closed))

    def is_open(self, ts_ms: int) -> bool:
        return hour_of_week(ts_ms) not in self.closed_hours

    def minutes_to_close(self, ts_ms: int) -> int | None:
        """Minutes until the next closed hour starts (0 if closed now); None if it never closes."""
        if not self.closed_hours:
            return None
        if not self.is_open(ts_ms):
            return 0
        next_hour = (ts_ms // _MS_PER_HOUR + 1) * _MS_PER_HOUR
        for k in range(HOURS_PER_WEEK):
            t = next_hour + k * _MS_PER_HOUR
            if hour_of_week(t) in self.closed_hours:
                return int((t - ts_ms) // 60_000)
        return None


@dataclass(frozen=True, slots=True)
class Behaviour:
    mode: Literal["closed", "thin", "normal"]
    allow_new_entries: bool
    size_multiplier: float
    reason: str


@dataclass(frozen=True, slots=True)
class BehaviourProfile:
    calendar: SessionCalendar
    thin_hours: frozenset[int]
    thin_size: float = 0.5
    no_entry_before_close_min: int = 15

    @classmethod
    def learn(
        cls,
        profile: pl.DataFrame,
        *,
        min_coverage: float = 0.02,
        thin_quantile: float = 0.2,
        thin_size: float = 0.5,
    ) -> BehaviourProfile:
        cal = SessionCalendar.learn(profile, min_coverage)
        open_rows = profile.filter(~pl.col("how").is_in(list(cal.closed_hours)) & (pl.col("bars") > 0))
        metric = "volume" if "volume" in open_rows.columns else "coverage"
        liquidity = open_rows[metric].cast(pl.Float64).fill_null(0.0)
        if "spread_bps" in open_rows.columns:  # wide spread = thin too: rank by coverage / spread
            liquidity = (open_rows["coverage"] / open_rows["spread_bps"].fill_null(np.inf)).cast(pl.Float64)
        cut = float(np.quantile(liquidity.to_numpy(), thin_quantile)) if liquidity.len() else 0.0
        thin = open_rows.filter(liquidity <= cut)["how"].to_list()
        return cls(cal, frozenset(int(h) for h in thin), thin_size)

    def at(self, ts_ms: int) -> Behaviour:
        if not self.calendar.is_open(ts_ms):
            return Behaviour("closed", False, 0.0, "session closed")
        to_close = self.calendar.minutes_to_close(ts_ms)
        near_close = to_close is not None and to_close < self.no_entry_before_close_min
        if hour_of_week(ts_ms) in self.thin_hours:
            return Behaviour(
                "thin", not near_close, self.thin_size, "thin hour" + (", close near" if near_close else "")
            )
        return Behaviour(
            "normal", not near_close, 1.0, f"{to_close} min to close" if near_close else "normal hours"
        )
