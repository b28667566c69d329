"""Events: the only things that cross a boundary between components (and into the event log).

Why it exists: feed → features → signals → risk → execution talk by events, and the append-only
event log stores them. A discriminated union on ``kind`` lets any stored JSON be parsed back to its
exact type (``parse_event``), and frozen models with ``extra="forbid"`` make every field explicit.

What it must not do: carry gate *logic* or venue calls. A pre-trade denial is an ``OrderDenied``
value, not an exception; gate evaluation lives elsewhere and only its outcome (``GateChanged``) is
recorded here.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from quantops_trading.model.ids import (
    ClientOrderId,
    EventId,
    InstrumentId,
    StrategyId,
    TraceId,
    VenueOrderId,
)
from quantops_trading.model.money import Price, Quantity
from quantops_trading.model.orders import Fill, Order

__all__ = [
    "BarEvent",
    "DataGapDetected",
    "Event",
    "EventBase",
    "FreshnessBreached",
    "GateChanged",
    "OrderCancelled",
    "OrderDenied",
    "OrderFilled",
    "OrderSubmitted",
    "QuarantineRecord",
    "SignalEmitted",
    "parse_event",
]


def _now_ns() -> int:
    return time.time_ns()


class EventBase(BaseModel):
    """Common envelope: unique id, time (ns, UTC), optional trace id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: EventId = Field(default_factory=EventId.new)
    ts_ns: int = Field(default_factory=_now_ns, ge=0)
    trace_id: TraceId | None = None


class BarEvent(EventBase):
    """A closed OHLCV bar, labelled by its *close* time (``close_ts_ms``)."""

    kind: Literal["bar"] = "bar"
    instrument_id: InstrumentId
    timeframe: str = Field(pattern=r"^\d+[smhd]$")
    close_ts_ms: int = Field(ge=0)
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Quantity
    is_filled: bool = False
    lineage: dict[str, str | int] = Field(default_factory=dict)


class SignalEmitted(EventBase):
    """A strategy's target (e.g. -1..1) with the lineage of the features that produced it."""

    kind: Literal["signal"] = "signal"
    strategy_id: StrategyId
    instrument_id: InstrumentId
    value: float = Field(ge=-1.0, le=1.0, description="Target exposure fraction (not an order amount).")
    lineage: dict[str, str | int] = Field(default_factory=dict)


class OrderSubmitted(EventBase):
    kind: Literal["order_submitted"] = "order_submitted"
    order: Order
    lineage: dict[str, str | int] = Field(default_factory=dict)


class OrderDenied(EventBase):
    """A pre-trade denial: an expected outcome, recorded as a value."""

    kind: Literal["order_denied"] = "order_denied"
    order: Order
    reason: str = Field(min_length=1)
    rule: str = Field(min_length=1, description="The rule/check that denied it.")


class OrderFilled(EventBase):
    kind: Literal["order_filled"] = "order_filled"
    fill: Fill


class OrderCancelled(EventBase):
    kind: Literal["order_cancelled"] = "order_cancelled"
    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId | None = None
    reason: str = ""


class GateChanged(EventBase):
    """An audited gate flip: who/what, why, old → new."""

    kind: Literal["gate_changed"] = "gate_changed"
    scope: str = Field(min_length=1, description="What the gate applies to, e.g. 'strategy/momentum-btc'.")
    old: Literal["GO", "CHECK", "PAUSE", "STOP"]
    new: Literal["GO", "CHECK", "PAUSE", "STOP"]
    actor: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class QuarantineRecord(EventBase):
    """One input row refused by a schema/quality check, with the reason and the raw row."""

    kind: Literal["quarantine"] = "quarantine"
    feed: str = Field(min_length=1)
    row_index: int = Field(ge=0)
    reason: str = Field(min_length=1)
    raw: str = Field(description="The offending row as canonical JSON.")


class DataGapDetected(EventBase):
    """A gap in a critical feed: trading on it is NO_GO over [start_ms, end_ms)."""

    kind: Literal["data_gap"] = "data_gap"
    feed: str
    start_ms: int
    end_ms: int
    missing_bars: int = Field(ge=1)


class FreshnessBreached(EventBase):
    kind: Literal["freshness_breached"] = "freshness_breached"
    source: str
    age_ms: int
    sla_ms: int


Event = Annotated[
    BarEvent
    | SignalEmitted
    | OrderSubmitted
    | OrderDenied
    | OrderFilled
    | OrderCancelled
    | GateChanged
    | QuarantineRecord
    | DataGapDetected
    | FreshnessBreached,
    Field(discriminator="kind"),
]
"""Any event; parse stored JSON with :func:`parse_event`."""

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: str | bytes | dict[str, object]) -> Event:
    """Parse JSON text or a dict into the concrete event type named by its ``kind``."""
    if isinstance(data, dict):
        return _ADAPTER.validate_python(data)
    return _ADAPTER.validate_json(data)
