"""Lineage columns on frames, and back to a dict for signals and orders (roadmap 90).

Why it exists: a feature row must say where it came from (source, venue, file/stream, ingest
time, every transform version), and that must survive resampling, joins and feature computation
into the signal and the order. Frames carry the five ``lineage_*`` columns of
:data:`quantops_trading.model.lineage.LINEAGE_COLUMNS`; transforms append ``name@version`` to
``lineage_transforms`` with :func:`tag_transform`; :func:`lineage_of_row` turns one row back into
the dict that ``SignalEmitted.lineage`` / ``OrderSubmitted.lineage`` carry.

What it must not do: decide *what* a transform does; it only records that it ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import polars as pl

from quantops_trading.model.lineage import LINEAGE_COLUMNS, Lineage

__all__ = ["add_lineage", "has_lineage", "lineage_of_row", "merge_lineage_exprs", "tag_transform"]

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def add_lineage(frame: FrameT, lineage: Lineage) -> FrameT:
    """Attach the five lineage columns (constant per frame) to ``frame``."""
    values = lineage.as_dict()
    return frame.with_columns(
        pl.lit(values["source"], dtype=pl.String).alias("lineage_source"),
        pl.lit(values["venue"], dtype=pl.String).alias("lineage_venue"),
        pl.lit(values["stream"], dtype=pl.String).alias("lineage_stream"),
        pl.lit(values["ingest_ts_ns"], dtype=pl.Int64).alias("lineage_ingest_ts_ns"),
        pl.lit(values["transforms"], dtype=pl.String).alias("lineage_transforms"),
    )


def has_lineage(frame: pl.DataFrame | pl.LazyFrame) -> bool:
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    return all(c in names for c in LINEAGE_COLUMNS)


def tag_transform(frame: FrameT, name: str, version: str | int) -> FrameT:
    """Append ``name@version`` to every row's ``lineage_transforms`` (error if untagged)."""
    if not has_lineage(frame):
        raise ValueError(f"cannot tag transform {name}@{version}: frame has no lineage columns")
    tag = f"{name}@{version}"
    col = pl.col("lineage_transforms")
    return frame.with_columns(
        pl.when(col == "").then(pl.lit(tag)).otherwise(col + pl.lit("|" + tag)).alias("lineage_transforms")
    )


def merge_lineage_exprs() -> list[pl.Expr]:
    """Aggregations that keep lineage through a ``group_by`` (resampling): first value per group.

    Ingest time takes the max (the newest input row of the group).
    """
    return [
        pl.col("lineage_source").first(),
        pl.col("lineage_venue").first(),
        pl.col("lineage_stream").first(),
        pl.col("lineage_ingest_ts_ns").max(),
        pl.col("lineage_transforms").first(),
    ]


def lineage_of_row(row: Mapping[str, Any]) -> dict[str, str | int]:
    """The lineage dict of one frame row (e.g. ``df.row(i, named=True)``), validated.

    Raises ``ValueError`` naming the missing column if the row carries no lineage.
    """
    missing = [c for c in LINEAGE_COLUMNS if c not in row or row[c] is None]
    if missing:
        raise ValueError(f"row has no lineage (missing {missing}); tag frames with add_lineage()")
    transforms = str(row["lineage_transforms"])
    lineage = Lineage(
        source=str(row["lineage_source"]),
        venue=str(row["lineage_venue"]),
        stream=str(row["lineage_stream"]),
        ingest_ts_ns=int(row["lineage_ingest_ts_ns"]),
        transforms=tuple(t for t in transforms.split("|") if t),
    )
    return lineage.as_dict()
