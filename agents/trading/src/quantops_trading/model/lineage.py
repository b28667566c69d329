"""Lineage: where a number came from, carried from the raw feed into signals and orders.

Why it exists: when an order looks wrong, the first question is "which data produced it?". A
``Lineage`` names the source, venue, file or stream, ingest time and every transform version
applied; feature frames carry it as columns (``quantops_trading.data.lineage``) and a signal or
order event carries it as a plain dict, so an audit can walk back from a fill to the file row.

What it must not do: compute anything. It is a value.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LINEAGE_COLUMNS", "Lineage"]

LINEAGE_COLUMNS: tuple[str, ...] = (
    "lineage_source",
    "lineage_venue",
    "lineage_stream",
    "lineage_ingest_ts_ns",
    "lineage_transforms",
)
"""Column names a lineage-tagged frame carries (one value per row)."""


class Lineage(BaseModel):
    """Provenance of a row: source kind, venue, file/stream, ingest time, transform versions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, description="Feed kind or provider, e.g. 'candles', 'orderbook'.")
    venue: str = Field(min_length=1, description="Venue the data came from, e.g. 'binance'.")
    stream: str = Field(min_length=1, description="File name or stream/topic the rows were read from.")
    ingest_ts_ns: int = Field(ge=0, description="Receiver wall-clock time of ingestion, ns since epoch.")
    transforms: tuple[str, ...] = Field(
        default=(), description="Ordered 'name@version' of every transform applied, e.g. 'dedup@1'."
    )

    def with_transform(self, name: str, version: str | int) -> Lineage:
        """A copy with ``name@version`` appended to the transform chain."""
        tag = f"{name}@{version}"
        if "|" in tag:
            raise ValueError(f"transform tag {tag!r} must not contain '|'")
        return self.model_copy(update={"transforms": (*self.transforms, tag)})

    def as_dict(self) -> dict[str, str | int]:
        """A flat, JSON-friendly dict to attach to a signal or order event."""
        return {
            "source": self.source,
            "venue": self.venue,
            "stream": self.stream,
            "ingest_ts_ns": self.ingest_ts_ns,
            "transforms": "|".join(self.transforms),
        }
