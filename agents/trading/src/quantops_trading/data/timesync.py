"""Time-sync checks on every timestamp field (roadmap 89).

Why it exists: a receiver clock that is off by a second, a timestamp in the future, or a whole
file written in local time instead of UTC all produce features that silently look ahead or lag.
This module measures rather than guesses:

* :func:`estimate_clock_offset` — receiver clock minus exchange clock (robust: median and
  percentiles). The Binance L2 recordings show ``local_ts_ns`` ~1.27 s *earlier* than the
  exchange event time ``ts_ms``: the offset is about −1270 ms and is flagged as skewed.
* :func:`check_timestamps` — per timestamp field: nulls, values outside 2009..2100, values in the
  future beyond a tolerance, and backwards steps.
* :func:`detect_time_shift` — cross-correlates a series' closes against a trusted reference at
  every candidate shift (default ±14 h in 15 min steps) and returns the correction to apply: for
  ``candles/defects/bittrex_ETH-BTC_1m_TZSHIFTED_plus1h_...`` vs the correct Bittrex file it is
  −3,600,000 ms (the file was written in CET).

What it must not do: rewrite timestamps. Correcting a series is an explicit, lineage-tagged step
for the caller (``pl.col("ts_ms") + shift_ms``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = [
    "ClockOffset",
    "TimeShift",
    "TimestampReport",
    "check_timestamps",
    "detect_time_shift",
    "estimate_clock_offset",
]

_MIN_MS, _MAX_MS = 1_230_768_000_000, 4_102_444_800_000


@dataclass(frozen=True, slots=True)
class ClockOffset:
    """Receiver minus exchange clock, in ms (negative: receiver clock behind the exchange)."""

    median_ms: float
    p05_ms: float
    p95_ms: float
    samples: int
    tolerance_ms: float

    @property
    def skewed(self) -> bool:
        return abs(self.median_ms) > self.tolerance_ms


def estimate_clock_offset(
    exchange_ts_ms: pl.Series, local_ts_ns: pl.Series, *, tolerance_ms: float = 250.0
) -> ClockOffset:
    """Robust offset of the receiver clock (``local_ts_ns``) against exchange times (``ts_ms``)."""
    if exchange_ts_ms.len() != local_ts_ns.len():
        raise ValueError(
            f"length mismatch: {exchange_ts_ms.len()} exchange vs {local_ts_ns.len()} local stamps"
        )
    diff = (local_ts_ns.cast(pl.Float64) / 1e6 - exchange_ts_ms.cast(pl.Float64)).drop_nulls().to_numpy()
    if diff.size == 0:
        raise ValueError("estimate_clock_offset: no paired timestamps")
    p05, med, p95 = np.percentile(diff, [5, 50, 95])
    return ClockOffset(float(med), float(p05), float(p95), int(diff.size), tolerance_ms)


@dataclass(frozen=True, slots=True)
class TimestampReport:
    field: str
    rows: int
    nulls: int
    out_of_range: int
    future: int
    backwards: int

    @property
    def ok(self) -> bool:
        return self.nulls == self.out_of_range == self.future == self.backwards == 0


def check_timestamps(
    df: pl.DataFrame, fields: dict[str, str], *, now_ms: int, future_tolerance_ms: int = 5_000
) -> list[TimestampReport]:
    """One report per timestamp field; ``fields`` maps column name to unit ``"ms"``/``"ns"``/``"s"``."""
    scale = {"s": 1_000.0, "ms": 1.0, "ns": 1e-6}
    reports = []
    for name, unit in fields.items():
        if name not in df.columns:
            raise ValueError(f"check_timestamps: no column {name!r}")
        if unit not in scale:
            raise ValueError(
                f"check_timestamps: unit of {name!r} must be one of {sorted(scale)}, got {unit!r}"
            )
        ms = df[name].cast(pl.Float64) * scale[unit]
        valid = ms.drop_nulls()
        reports.append(
            TimestampReport(
                field=name,
                rows=df.height,
                nulls=ms.null_count(),
                out_of_range=int(((valid < _MIN_MS) | (valid > _MAX_MS)).sum()),
                future=int((valid > now_ms + future_tolerance_ms).sum()),
                backwards=int((valid.diff().drop_nulls() < 0).sum()),
            )
        )
    return reports


@dataclass(frozen=True, slots=True)
class TimeShift:
    """``shift_ms`` to ADD to the series' timestamps to align it with the reference."""

    shift_ms: int
    match_fraction: float
    overlap: int
    unshifted_match_fraction: float


def _score(series: pl.DataFrame, reference: pl.DataFrame, shift: int) -> tuple[float, int]:
    joined = series.with_columns(pl.col("ts_ms") + shift).join(
        reference, on="ts_ms", how="inner", suffix="_ref"
    )
    if joined.height == 0:
        return 0.0, 0
    equal = (joined["close"] - joined["close_ref"]).abs() <= 1e-12 * joined["close_ref"].abs()
    return float(np.mean(equal.to_numpy())), joined.height


def detect_time_shift(
    series: pl.DataFrame,
    reference: pl.DataFrame,
    *,
    max_shift_ms: int = 14 * 3_600_000,
    step_ms: int = 900_000,
    min_overlap: int = 100,
) -> TimeShift:
    """Find the shift that best aligns ``series`` closes with ``reference`` closes.

    Both frames need ``ts_ms`` and ``close``. Raises ``ValueError`` if no candidate shift gives at
    least ``min_overlap`` common timestamps (nothing to compare).
    """
    for name, frame in (("series", series), ("reference", reference)):
        if not {"ts_ms", "close"} <= set(frame.columns):
            raise ValueError(f"detect_time_shift: {name} needs ts_ms and close columns")
    s = series.select("ts_ms", "close")
    r = reference.select("ts_ms", "close")
    best = (-1.0, 0, 0)
    for shift in range(-max_shift_ms, max_shift_ms + 1, step_ms):
        frac, overlap = _score(s, r, shift)
        if overlap >= min_overlap and (frac, -abs(shift)) > (best[0], -abs(best[1])):
            best = (frac, shift, overlap)
    if best[0] < 0:
        raise ValueError(f"detect_time_shift: no shift within ±{max_shift_ms} ms overlaps {min_overlap} rows")
    unshifted, _ = _score(s, r, 0)
    return TimeShift(
        shift_ms=best[1], match_fraction=best[0], overlap=best[2], unshifted_match_fraction=unshifted
    )
