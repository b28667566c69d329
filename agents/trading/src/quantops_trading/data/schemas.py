"""Column schemas of the four incoming feed kinds: candles, trades, L2 books, tickers.

Why it exists: schema checks (``data/quality.py``) need one declarative statement of which columns
each feed must have, of which type, and which may be null. Keeping it as data makes the rules easy
to read and to extend for a new feed without touching the checking code.

What it must not do: check anything itself or read files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl

__all__ = ["BOOK_LEVEL_RE", "Column", "FeedKind", "FeedSchema", "book_levels", "schema_for"]


class FeedKind(StrEnum):
    CANDLES = "candles"
    TRADES = "trades"
    BOOK = "book"
    TICKER = "ticker"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    dtype: type[pl.DataType] | pl.DataType
    required: bool = True
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class FeedSchema:
    kind: FeedKind
    columns: tuple[Column, ...]
    time_column: str = "ts_ms"
    extra_columns_allowed: bool = True
    notes: str = field(default="")

    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


BOOK_LEVEL_RE = re.compile(r"^(bid|ask)_(px|qty)_(\d+)$")

_CANDLES = FeedSchema(
    FeedKind.CANDLES,
    (
        Column("ts_ms", pl.Int64),
        Column("open", pl.Float64),
        Column("high", pl.Float64),
        Column("low", pl.Float64),
        Column("close", pl.Float64),
        Column("volume", pl.Float64),
        Column("quote_volume", pl.Float64, required=False, nullable=True),
    ),
    notes="ts_ms is the bar OPEN time (README); features relabel bars by close time.",
)

_TRADES = FeedSchema(
    FeedKind.TRADES,
    (
        Column("ts_ms", pl.Int64),
        Column("trade_id", pl.String, nullable=True),
        Column("price", pl.Float64),
        Column("amount", pl.Float64),
        Column("side", pl.String, required=False, nullable=True),
        Column("cost", pl.Float64, required=False, nullable=True),
        Column("event_ts_ms", pl.Int64, required=False, nullable=True),
        Column("local_ts_ns", pl.Int64, required=False, nullable=True),
    ),
    notes="trade_id may be empty (Kraken); side is the taker side or empty.",
)

_TICKER = FeedSchema(
    FeedKind.TICKER,
    (
        Column("ts_ms", pl.Int64),
        Column("bid", pl.Float64),
        Column("ask", pl.Float64),
        Column("last", pl.Float64, required=False, nullable=True),
        Column("bid_qty", pl.Float64, required=False, nullable=True),
        Column("ask_qty", pl.Float64, required=False, nullable=True),
    ),
)


def book_levels(columns: list[str]) -> int:
    """Number of complete book levels present (``bid_px_i, bid_qty_i, ask_px_i, ask_qty_i``)."""
    n = 0
    while all(f"{s}_{k}_{n + 1}" in columns for s in ("bid", "ask") for k in ("px", "qty")):
        n += 1
    return n


def _book_schema(levels: int) -> FeedSchema:
    cols: list[Column] = [
        Column("ts_ms", pl.Int64),
        Column("local_ts_ns", pl.Int64, required=False, nullable=True),
        Column("first_update_id", pl.Int64, required=False, nullable=True),
        Column("last_update_id", pl.Int64, required=False, nullable=True),
        Column("seq_gap", pl.Int64, required=False, nullable=True),
    ]
    for i in range(1, max(levels, 1) + 1):
        for side in ("bid", "ask"):
            cols.append(Column(f"{side}_px_{i}", pl.Float64))
            cols.append(Column(f"{side}_qty_{i}", pl.Float64))
    return FeedSchema(FeedKind.BOOK, tuple(cols), notes="level 1 = best; at least one level required")


def schema_for(kind: FeedKind | str, columns: list[str] | None = None) -> FeedSchema:
    """The schema of a feed kind (for books, sized to the levels present in ``columns``)."""
    kind = FeedKind(kind)
    if kind is FeedKind.BOOK:
        return _book_schema(book_levels(columns or []))
    return {FeedKind.CANDLES: _CANDLES, FeedKind.TRADES: _TRADES, FeedKind.TICKER: _TICKER}[kind]
