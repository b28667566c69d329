"""Data quality: schema checks and quarantine, dedup, gaps, outliers, freshness, clock checks,
lineage, cache and loaders of the shared real data. Never silently drops a row."""

from quantops_trading.data.cache import CachePolicy, LocalCache
from quantops_trading.data.clock import Clock, ManualClock, SystemClock
from quantops_trading.data.dedup import DedupResult, dedup_candles, dedup_points, dedup_trades
from quantops_trading.data.freshness import FreshnessMonitor, FreshnessStatus, SourceFreshness
from quantops_trading.data.gaps import Criticality, Gap, GapPolicy, GapReport, fill_gaps
from quantops_trading.data.lineage import add_lineage, has_lineage, lineage_of_row, tag_transform
from quantops_trading.data.loaders import LoadedFeed, data_file, load_feed, read_raw
from quantops_trading.data.metrics import REGISTRY, DataMetrics, data_metrics
from quantops_trading.data.outliers import JumpVerdict, VenueThresholds, classify_jumps
from quantops_trading.data.quality import ValidationResult, check_feed
from quantops_trading.data.quarantine import QuarantineStore, quarantine_events
from quantops_trading.data.schemas import FeedKind, FeedSchema, schema_for
from quantops_trading.data.timesync import (
    ClockOffset,
    TimeShift,
    TimestampReport,
    check_timestamps,
    detect_time_shift,
    estimate_clock_offset,
)

__all__ = [
    "REGISTRY",
    "CachePolicy",
    "Clock",
    "ClockOffset",
    "Criticality",
    "DataMetrics",
    "DedupResult",
    "FeedKind",
    "FeedSchema",
    "FreshnessMonitor",
    "FreshnessStatus",
    "Gap",
    "GapPolicy",
    "GapReport",
    "JumpVerdict",
    "LoadedFeed",
    "LocalCache",
    "ManualClock",
    "QuarantineStore",
    "SourceFreshness",
    "SystemClock",
    "TimeShift",
    "TimestampReport",
    "ValidationResult",
    "VenueThresholds",
    "add_lineage",
    "check_feed",
    "check_timestamps",
    "classify_jumps",
    "data_file",
    "data_metrics",
    "dedup_candles",
    "dedup_points",
    "dedup_trades",
    "detect_time_shift",
    "estimate_clock_offset",
    "fill_gaps",
    "has_lineage",
    "lineage_of_row",
    "load_feed",
    "quarantine_events",
    "read_raw",
    "schema_for",
    "tag_transform",
]
