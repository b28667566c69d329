"""Schema and sanity checks on every incoming feed, with quarantine instead of silent drops (roadmap 81).

Why it exists: one malformed row (a string in a price, a crossed book, high < low, a negative size,
a timestamp going backwards) must never reach features or orders, and must never vanish either.
:func:`check_feed` splits a frame into ``valid`` rows (typed per ``data/schemas.py``) and
``quarantine`` rows, each with a ``reason`` and the raw row as JSON, counts both in Prometheus
(``quantops_data_rows_total{feed}``, ``quantops_data_quarantined_rows_total{feed,reason}``) and
guarantees ``valid.height + quarantine.height == input.height`` (it raises if that ever fails).

Reasons (first failing rule wins, in this order): ``missing_column:<c>``, ``bad_type:<c>``,
``null:<c>``, ``non_finite:<c>``, ``ts_out_of_range``, ``future_timestamp``, then per kind
``non_positive_price``, ``negative_size``, ``zero_size``, ``bad_side``, ``high_below_low``,
``ohlc_out_of_range``, ``crossed_book``, ``unsorted_levels``, and last ``non_monotonic_time``
(a time earlier than an earlier *valid* row's; equal times are left to de-duplication).

What it must not do: repair rows. Repairs (dedup, gap fill, outliers) are separate, flagged steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from prometheus_client import CollectorRegistry

from quantops_trading.data.metrics import DataMetrics, data_metrics
from quantops_trading.data.schemas import FeedKind, FeedSchema, book_levels, schema_for

__all__ = ["QUARANTINE_SCHEMA", "ValidationResult", "check_feed"]

QUARANTINE_SCHEMA: dict[str, type[pl.DataType]] = {
    "feed": pl.String,
    "row_index": pl.Int64,
    "reason": pl.String,
    "raw": pl.String,
}
_MIN_TS_MS = 1_230_768_000_000  # 2009-01-01: nothing crypto is older
_MAX_TS_MS = 4_102_444_800_000  # 2100-01-01
_ROW = "__row_index"


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Valid typed rows, quarantined rows with reasons; together exactly the input rows."""

    feed: str
    kind: FeedKind
    valid: pl.DataFrame
    quarantine: pl.DataFrame
    input_rows: int

    def reasons(self) -> dict[str, int]:
        counts = self.quarantine.group_by("reason").len().sort("reason")
        return dict(zip(counts["reason"].to_list(), counts["len"].to_list(), strict=True))


def _raw_json(df: pl.DataFrame) -> pl.Expr:
    cols = [c for c in df.columns if c != _ROW]
    return pl.struct([pl.col(c).cast(pl.String) for c in cols]).struct.json_encode().alias("raw")


def _kind_rules(kind: FeedKind, df: pl.DataFrame) -> list[tuple[pl.Expr, str]]:
    c = pl.col
    if kind is FeedKind.CANDLES:
        prices = ["open", "high", "low", "close"]
        return [
            (pl.any_horizontal([c(p) <= 0 for p in prices]), "non_positive_price"),
            (c("volume") < 0, "negative_size"),
            (c("high") < c("low"), "high_below_low"),
            (
                pl.any_horizontal([(c(p) > c("high")) | (c(p) < c("low")) for p in ("open", "close")]),
                "ohlc_out_of_range",
            ),
        ]
    if kind is FeedKind.TRADES:
        rules = [
            (c("price") <= 0, "non_positive_price"),
            (c("amount") < 0, "negative_size"),
            (c("amount") == 0, "zero_size"),
        ]
        if "side" in df.columns:
            rules.append((c("side").is_not_null() & ~c("side").is_in(["buy", "sell"]), "bad_side"))
        return rules
    if kind is FeedKind.TICKER:
        return [
            (pl.any_horizontal([c("bid") <= 0, c("ask") <= 0]), "non_positive_price"),
            (c("bid") > c("ask"), "crossed_book"),
        ]
    n = book_levels(df.columns)
    px = [c(f"{s}_px_{i}") for s in ("bid", "ask") for i in range(1, n + 1)]
    qty = [c(f"{s}_qty_{i}") for s in ("bid", "ask") for i in range(1, n + 1)]
    unsorted = [c(f"bid_px_{i + 1}") >= c(f"bid_px_{i}") for i in range(1, n)]
    unsorted += [c(f"ask_px_{i + 1}") <= c(f"ask_px_{i}") for i in range(1, n)]
    return [
        (pl.any_horizontal([p <= 0 for p in px]), "non_positive_price"),
        (pl.any_horizontal([q < 0 for q in qty]), "negative_size"),
        (c("bid_px_1") >= c("ask_px_1"), "crossed_book"),
        (pl.any_horizontal(unsorted) if unsorted else pl.lit(False), "unsorted_levels"),
    ]


def _type_rules(schema: FeedSchema, df: pl.DataFrame) -> tuple[list[pl.Expr], list[tuple[pl.Expr, str]]]:
    casts: list[pl.Expr] = []
    rules: list[tuple[pl.Expr, str]] = []
    for col in schema.columns:
        if col.name not in df.columns:
            continue
        src = pl.col(col.name)
        if df.schema[col.name] == pl.String and col.dtype != pl.String:
            src = pl.when(src.str.strip_chars() == "").then(None).otherwise(src.str.strip_chars())
        cast = src.cast(col.dtype, strict=False)
        casts.append(cast.alias(col.name))
        rules.append((src.is_not_null() & cast.is_null(), f"bad_type:{col.name}"))
        if not col.nullable:
            rules.append((cast.is_null(), f"null:{col.name}"))
        if col.dtype == pl.Float64:
            rules.append((cast.is_nan() | cast.is_infinite(), f"non_finite:{col.name}"))
    return casts, rules


def _chain(rules: list[tuple[pl.Expr, str]]) -> pl.Expr:
    if not rules:
        return pl.lit(None, dtype=pl.String)
    expr: Any = pl.when(rules[0][0].fill_null(False)).then(pl.lit(rules[0][1]))
    for cond, reason in rules[1:]:
        expr = expr.when(cond.fill_null(False)).then(pl.lit(reason))
    result: pl.Expr = expr.otherwise(pl.lit(None, dtype=pl.String))
    return result


def check_feed(
    df: pl.DataFrame,
    kind: FeedKind | str,
    feed: str,
    *,
    now_ms: int | None = None,
    future_tolerance_ms: int = 5_000,
    registry: CollectorRegistry | None = None,
) -> ValidationResult:
    """Split ``df`` into valid and quarantined rows for feed ``feed`` of kind ``kind``.

    ``now_ms`` enables the ``future_timestamp`` rule (time beyond now + tolerance).
    """
    if not isinstance(df, pl.DataFrame):
        raise TypeError(f"check_feed({feed!r}) expects a polars DataFrame, got {type(df).__name__}")
    kind = FeedKind(kind)
    schema = schema_for(kind, df.columns)
    n = df.height
    metrics = data_metrics(registry)
    metrics.rows_in.labels(feed=feed).inc(n)
    indexed = df.with_row_index(_ROW).with_columns(pl.col(_ROW).cast(pl.Int64))
    missing = [c for c in schema.required() if c not in df.columns]
    if kind is FeedKind.BOOK and book_levels(df.columns) == 0:
        missing = missing or ["bid_px_1"]
    if missing:
        quarantine = indexed.select(
            pl.lit(feed).alias("feed"),
            pl.col(_ROW).alias("row_index"),
            pl.lit(f"missing_column:{missing[0]}").alias("reason"),
            _raw_json(indexed),
        )
        valid = pl.DataFrame(schema={c.name: c.dtype for c in schema.columns if c.name in df.columns})
        return _finish(feed, kind, valid, quarantine, n, metrics)

    casts, type_rules = _type_rules(schema, df)
    raw = indexed.select(pl.col(_ROW), _raw_json(indexed))
    typed = indexed.with_columns(_chain(type_rules).alias("__reason"))
    typed = typed.with_columns(
        [
            pl.when(pl.col("__reason").is_null()).then(e).otherwise(None).alias(e.meta.output_name())
            for e in casts
        ]
    )
    ts = pl.col(schema.time_column)
    rules = [
        (pl.col("__reason").is_not_null(), "__keep"),
        ((ts < _MIN_TS_MS) | (ts > _MAX_TS_MS), "ts_out_of_range"),
    ]
    if now_ms is not None:
        rules.append((ts > now_ms + future_tolerance_ms, "future_timestamp"))
    rules += _kind_rules(kind, df)
    checked = typed.with_columns(
        pl.when(pl.col("__reason").is_not_null())
        .then(pl.col("__reason"))
        .otherwise(_chain(rules[1:]))
        .alias("__reason")
    )
    prev_max = (
        pl.when(pl.col("__reason").is_null()).then(ts).otherwise(None).cum_max().forward_fill().shift(1)
    )
    checked = checked.with_columns(
        pl.when(pl.col("__reason").is_null() & (ts < prev_max).fill_null(False))
        .then(pl.lit("non_monotonic_time"))
        .otherwise(pl.col("__reason"))
        .alias("__reason")
    )
    bad = checked.filter(pl.col("__reason").is_not_null()).join(raw, on=_ROW, how="left")
    quarantine = bad.select(
        pl.lit(feed).alias("feed"),
        pl.col(_ROW).alias("row_index"),
        pl.col("__reason").alias("reason"),
        pl.col("raw"),
    )
    valid = checked.filter(pl.col("__reason").is_null()).drop(_ROW, "__reason")
    return _finish(feed, kind, valid, quarantine, n, metrics)


def _finish(
    feed: str, kind: FeedKind, valid: pl.DataFrame, quarantine: pl.DataFrame, n: int, metrics: DataMetrics
) -> ValidationResult:
    quarantine = quarantine.cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]
    if valid.height + quarantine.height != n:  # the invariant this module exists for
        raise RuntimeError(
            f"{feed}: {valid.height} valid + {quarantine.height} quarantined != {n} input rows"
        )
    result = ValidationResult(feed, kind, valid, quarantine, n)
    for reason, count in result.reasons().items():
        metrics.rows_quarantined.labels(feed=feed, reason=reason).inc(count)
    return result
