"""Domain model: identifiers, exact money types, instruments, orders, events, lineage.

Pure values only (pydantic, frozen, ``extra="forbid"``); no I/O, no gates.
"""

from quantops_trading.model.events import (
    BarEvent,
    DataGapDetected,
    Event,
    EventBase,
    FreshnessBreached,
    GateChanged,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderSubmitted,
    QuarantineRecord,
    SignalEmitted,
    parse_event,
)
from quantops_trading.model.ids import (
    ClientOrderId,
    EventId,
    InstrumentId,
    StrategyId,
    TraceId,
    VenueId,
    VenueOrderId,
)
from quantops_trading.model.instruments import Instrument, InstrumentKind
from quantops_trading.model.lineage import LINEAGE_COLUMNS, Lineage
from quantops_trading.model.money import Money, NonNegativeDecimal, Price, Quantity, to_decimal
from quantops_trading.model.orders import (
    Balance,
    Fill,
    LiquiditySide,
    Order,
    OrderSide,
    OrderType,
    Position,
    TimeInForce,
)

__all__ = [
    "LINEAGE_COLUMNS",
    "Balance",
    "BarEvent",
    "ClientOrderId",
    "DataGapDetected",
    "Event",
    "EventBase",
    "EventId",
    "Fill",
    "FreshnessBreached",
    "GateChanged",
    "Instrument",
    "InstrumentId",
    "InstrumentKind",
    "Lineage",
    "LiquiditySide",
    "Money",
    "NonNegativeDecimal",
    "Order",
    "OrderCancelled",
    "OrderDenied",
    "OrderFilled",
    "OrderSide",
    "OrderSubmitted",
    "OrderType",
    "Position",
    "Price",
    "Quantity",
    "QuarantineRecord",
    "SignalEmitted",
    "StrategyId",
    "TimeInForce",
    "TraceId",
    "VenueId",
    "VenueOrderId",
    "parse_event",
    "to_decimal",
]
