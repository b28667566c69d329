"""The data-quality stage of a candle file, in the order the pipeline runs it (roadmap 81–83, 88, 90).

Why it exists: each check is correct alone, but a backtest is only as good as the bars that reach
it, and a bar can be wrong in several ways at once. :func:`prepare_candles` composes them on one
checked feed (:func:`~quantops_trading.data.loaders.load_feed` has applied the schema, 81):

1. **de-duplicate** (82): one bar per time, conflicts keep the fuller bar, deterministic order;
2. **bad prints** (88): a one-bar spike that comes straight back is quarantined with the reason
   ``bad_print`` (its row then is a hole like any other); real moves and unconfirmed jumps stay;
3. **gaps** (83) on the file's bar grid: holes of at most ``max_fill_bars`` bars become flat bars
   at the previous close with zero volume (what the venue shows for a minute without trades);
   longer holes are never invented: they stay holes and are reported as no-go windows;
4. **lineage** (90): every transform that ran is listed in :attr:`Prepared.report`.

Nothing is dropped silently: the quarantine holds every refused row with its reason, and the report
counts each step, for the run's evidence.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import polars as pl
from prometheus_client import CollectorRegistry

from quantops_trading.data.dedup import dedup_candles
from quantops_trading.data.gaps import Criticality, GapPolicy, fill_gaps
from quantops_trading.data.loaders import LoadedFeed
from quantops_trading.data.metrics import data_metrics
from quantops_trading.data.outliers import classify_jumps
from quantops_trading.data.quality import QUARANTINE_SCHEMA

__all__ = ["BAR_COLUMNS", "Prepared", "bar_interval_ms", "prepare_candles"]

BAR_COLUMNS = ("ts_ms", "open", "high", "low", "close", "volume")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
_TF = re.compile(r"_(\d+)([mhd])_")
_WINDOWS_SHOWN = 5


@dataclass(frozen=True)
class Prepared:
    """``frame``: the bars a backtest may use (``BAR_COLUMNS``, time-sorted); ``quarantine``: every
    refused row with its reason (schema and bad prints); ``report``: what each step did."""

    frame: pl.DataFrame
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA rows
    report: dict[str, Any]


def bar_interval_ms(name: str, ts_ms: pl.Series) -> int:
    """The bar interval: from the file name (``_5m_``) when it says, else the commonest step."""
    match = _TF.search(name)
    if match:
        return int(match[1]) * _UNIT_MS[match[2]]
    steps = ts_ms.sort().diff().drop_nulls()
    steps = steps.filter(steps > 0)
    if steps.is_empty():
        raise ValueError(f"{name}: cannot tell the bar interval (fewer than two distinct bar times)")
    return int(steps.mode().min())  # type: ignore[arg-type]


def _bad_print_rows(feed: str, bad: pl.DataFrame) -> pl.DataFrame:
    raws = [json.dumps({c: row[c] for c in BAR_COLUMNS}) for row in bad.iter_rows(named=True)]
    return pl.DataFrame(
        {"feed": [feed] * bad.height, "row_index": [-1] * bad.height, "reason": ["bad_print"] * bad.height,
         "raw": raws},
        schema=QUARANTINE_SCHEMA,
    )  # fmt: skip


def prepare_candles(
    loaded: LoadedFeed,
    *,
    max_fill_bars: int = 5,
    drop_bad_prints: bool = True,
    registry: CollectorRegistry | None = None,
) -> Prepared:
    """Run steps 1–4 on one checked candle feed (one pair). A bad print's quarantine row has
    ``row_index`` -1: it is judged on the de-duplicated series, and ``raw`` carries its bar."""
    feed = loaded.path.name
    schema = loaded.result
    deduped = dedup_candles(schema.valid, feed=feed, registry=registry)
    bars = deduped.frame.select(
        pl.col("ts_ms").cast(pl.Int64), *(pl.col(c).cast(pl.Float64) for c in BAR_COLUMNS[1:])
    ).sort("ts_ms")
    venue = loaded.instrument_id.venue if loaded.instrument_id is not None else None
    judged = classify_jumps(bars, venue=str(venue) if venue else None, feed=feed, registry=registry)
    verdicts = judged.filter(pl.col("jump_verdict").is_not_null()).group_by("jump_verdict").len()
    jumps = dict(zip(verdicts["jump_verdict"].to_list(), verdicts["len"].to_list(), strict=True))
    bad = judged.filter(pl.col("is_bad_print")) if drop_bad_prints else judged.clear()
    quarantine = schema.quarantine
    if bad.height:
        quarantine = pl.concat([quarantine, _bad_print_rows(feed, bad)], how="vertical")
        data_metrics(registry).rows_quarantined.labels(feed=feed, reason="bad_print").inc(bad.height)
        bars = bars.filter(~pl.col("ts_ms").is_in(bad["ts_ms"].implode()))
    transforms = ["schema_check@1", "dedup@1"]
    if drop_bad_prints:
        transforms.append("bad_prints@1")
    gaps: dict[str, Any] = {"count": 0, "missingBars": 0, "filledBars": 0, "noGoWindows": []}
    interval = bar_interval_ms(feed, bars["ts_ms"]) if bars.height > 1 else None
    if interval is not None:
        policy = GapPolicy(Criticality.NON_CRITICAL, max_fill_bars)
        filled = fill_gaps(bars, interval, policy, feed=feed, registry=registry)
        open_gaps = [g for g in filled.gaps if not g.filled]
        gaps = {
            "count": len(filled.gaps),
            "missingBars": sum(g.missing_bars for g in filled.gaps),
            "filledBars": sum(g.missing_bars for g in filled.gaps if g.filled),
            "noGoWindows": [[g.start_ms, g.end_ms] for g in open_gaps[:_WINDOWS_SHOWN]],
            "noGoCount": len(open_gaps),
        }
        bars = filled.frame.filter(pl.col("open").is_not_null()).select(BAR_COLUMNS)
        transforms.append("gapfill_non_critical@1")
    report = {
        "inputRows": schema.input_rows,
        "quarantined": dict(sorted(Counter(quarantine["reason"].to_list()).items())),
        "duplicates": deduped.removed,
        "conflicts": deduped.conflicts,
        "jumps": jumps,
        "intervalMs": interval,
        "gaps": gaps,
        "bars": bars.height,
        "transforms": transforms,
    }
    return Prepared(bars, quarantine, report)
