"""Loaders of the shared real market data (``paths.shared_data_dir()``), checked and lineage-tagged.

Why it exists: every test, demo and backtest reads the same files; doing it in one place means
every row goes through :func:`quantops_trading.data.quality.check_feed` (so defects are
quarantined, never silently dropped) and leaves with lineage columns naming the file.

Files are read as text (``infer_schema=False``) so a malformed value becomes a ``bad_type``
quarantine record rather than a parser exception or a silently inferred string column.

What it must not do: repair data (dedup, gap fill, outliers are separate steps) or download.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from prometheus_client import CollectorRegistry

from quantops_trading.data.lineage import add_lineage
from quantops_trading.data.quality import ValidationResult, check_feed
from quantops_trading.data.schemas import FeedKind
from quantops_trading.model.ids import InstrumentId
from quantops_trading.model.lineage import Lineage
from quantops_trading.paths import shared_data_dir

__all__ = ["LoadedFeed", "data_file", "instrument_from_filename", "load_feed", "read_raw"]

_NAME_RE = re.compile(r"^(?P<venue>[a-z][a-z0-9\-]*)_(?P<base>[A-Z0-9]+)-?(?P<quote>[A-Z0-9]*)_")
_VENUE_ALIASES = {"perp": "binance-usdm", "binance-spot": "binance", "unknown-venue": "unknown"}
_PERP_QUOTES = {"BTCUSDT": ("BTC", "USDT")}


@dataclass(frozen=True, slots=True)
class LoadedFeed:
    """A checked feed: ``frame`` = valid rows with lineage columns; ``result`` has the quarantine."""

    path: Path
    kind: FeedKind
    lineage: Lineage
    instrument_id: InstrumentId | None
    result: ValidationResult

    @property
    def frame(self) -> pl.DataFrame:
        return self.result.valid

    @property
    def quarantine(self) -> pl.DataFrame:
        return self.result.quarantine


def data_file(relative: str) -> Path:
    """A file under the shared data dir; ``FileNotFoundError`` names the full path if absent."""
    path = shared_data_dir() / relative
    if not path.is_file():
        raise FileNotFoundError(f"shared data file not found: {path} (set QUANTOPS_DATA_DIR?)")
    return path


def instrument_from_filename(path: Path) -> InstrumentId | None:
    """``binance_XRP-ETH_1m_...`` → ``XRP/ETH@binance``; perps get ``:USDT`` settle. None if unknown."""
    match = _NAME_RE.match(path.name)
    if not match:
        return None
    venue = _VENUE_ALIASES.get(match["venue"], match["venue"])
    base, quote = match["base"], match["quote"]
    settle = None
    if quote == "PERP" and base in _PERP_QUOTES:
        base, quote = _PERP_QUOTES[base]
    if "-PERP" in path.name or match["venue"] == "perp":
        settle = quote
        venue = "binance-usdm"
    if not quote:
        return None
    try:
        return InstrumentId.of(base, quote, venue, settle=settle)
    except ValueError:
        return None


def read_raw(path: Path) -> pl.DataFrame:
    """Read a (gzip'd) CSV with every column as text; a clear error if it is not CSV at all."""
    try:
        return pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable CSV feed: {e}") from e


def load_feed(
    path: str | Path,
    kind: FeedKind | str,
    *,
    now_ms: int | None = None,
    ingest_ts_ns: int | None = None,
    registry: CollectorRegistry | None = None,
) -> LoadedFeed:
    """Read, check and lineage-tag one feed file (relative paths resolve in the shared data dir)."""
    p = Path(path)
    if not p.is_absolute():
        p = data_file(str(p))
    kind = FeedKind(kind)
    instrument = instrument_from_filename(p)
    venue = instrument.venue if instrument is not None else p.name.split("_", 1)[0]
    lineage = Lineage(
        source=kind.value,
        venue=str(venue),
        stream=p.name,
        ingest_ts_ns=time.time_ns() if ingest_ts_ns is None else ingest_ts_ns,
        transforms=("schema_check@1",),
    )
    result = check_feed(read_raw(p), kind, p.name, now_ms=now_ms, registry=registry)
    tagged = add_lineage(result.valid, lineage)
    if instrument is not None:
        tagged = tagged.with_columns(pl.lit(str(instrument)).alias("pair"))
    result = ValidationResult(result.feed, result.kind, tagged, result.quarantine, result.input_rows)
    return LoadedFeed(p, kind, lineage, instrument, result)
