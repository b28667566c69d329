"""Storage: the append-only hash-chained event log and its Parquet archives."""

from quantops_trading.storage.archive import RetentionPolicy, SegmentedEventLog
from quantops_trading.storage.eventlog import (
    GENESIS_HASH,
    ChainBrokenError,
    EventLog,
    EventLogError,
    LogEntry,
    LogFormatError,
    canonical_json,
    chain_hash,
    verify_chain,
)

__all__ = [
    "GENESIS_HASH",
    "ChainBrokenError",
    "EventLog",
    "EventLogError",
    "LogEntry",
    "LogFormatError",
    "RetentionPolicy",
    "SegmentedEventLog",
    "canonical_json",
    "chain_hash",
    "verify_chain",
]
