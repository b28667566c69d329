"""Audit events of the risk engine and the sink they are written to.

Why it exists: every automatic gate change, stage demotion, budget change, unwind step and
would-be order (CHECK mode) must leave an audit entry that says what happened, why and when. The
engine does not care where entries go: an :class:`AuditSink` is any callable taking an event, and
:func:`audit_sink` turns an :class:`~quantops_trading.storage.EventLog` (append-only, hash-chained)
or a plain callback into one. Gate flips reuse the domain ``GateChanged`` event and denials reuse
``OrderDenied``; the events below are the risk engine's own (read back with ``LogEntry.data()``).

What it must not do: decide anything. These are frozen values; the rules and the gateway decide.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from quantops_trading.execution.client_ids import client_order_id
from quantops_trading.execution.types import OrderType as ExecOrderType
from quantops_trading.model.ids import ClientOrderId, InstrumentId, StrategyId
from quantops_trading.model.orders import Order, OrderSide, OrderType, TimeInForce
from quantops_trading.storage.eventlog import EventLog

if TYPE_CHECKING:
    from quantops_trading.risk.book import OrderRequest

__all__ = [
    "AuditSink",
    "BudgetChanged",
    "ClusterThrottled",
    "KillSwitchTripped",
    "PromotionSimulated",
    "StageDemoted",
    "UnwindStep",
    "WouldBeOrder",
    "audit_sink",
    "to_model_order",
    "ts_ns_of",
]

AuditSink = Callable[[BaseModel], None]
"""Receives every audit event; must not raise for a well-formed event."""


def ts_ns_of(seconds: float) -> int:
    """Clock seconds → non-negative integer nanoseconds for an event envelope."""
    return max(0, int(seconds * 1_000_000_000))


class _RiskEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ts_ns: int = Field(ge=0)


class WouldBeOrder(_RiskEvent):
    """CHECK mode: the order passed every rule and would have been sent; nothing reached a venue."""

    kind: Literal["risk_would_be_order"] = "risk_would_be_order"
    strategy_id: str
    intent_id: str
    symbol: str
    side: str
    quantity: str
    price: str | None
    reference_price: str


class KillSwitchTripped(_RiskEvent):
    """An automatic restriction was added (``gate`` set) or lifted (``gate`` is ``None``)."""

    kind: Literal["risk_kill_switch"] = "risk_kill_switch"
    scope: str
    switch: str
    gate: Literal["GO", "CHECK", "PAUSE", "STOP"] | None
    reason: str


class BudgetChanged(_RiskEvent):
    """The allocator moved capital; ``report`` is the explainability report (roadmap 60)."""

    kind: Literal["risk_budget_changed"] = "risk_budget_changed"
    total: float
    allocations: dict[str, float]
    changes: dict[str, tuple[float, float]]
    explanation: str
    report: dict[str, Any]


class StageDemoted(_RiskEvent):
    """A realised-loss demotion decision (the pipeline/operator writes it to Strategy status)."""

    kind: Literal["risk_stage_demoted"] = "risk_stage_demoted"
    strategy_id: str
    old: Literal["COLD", "WARM", "HOT"]
    new: Literal["COLD", "WARM", "HOT"]
    realised_loss: float
    threshold: float
    reason: str


class UnwindStep(_RiskEvent):
    """One rung action of the unwind ladder: a child order, a completion or an interruption."""

    kind: Literal["risk_unwind_step"] = "risk_unwind_step"
    strategy_id: str
    symbol: str
    action: Literal["start", "child_order", "unresolved", "done", "interrupted", "denied", "rejected"]
    rung: int
    style: str
    quantity: str
    price: str | None
    remaining: str
    reason: str
    client_order_id: str | None = None


class ClusterThrottled(_RiskEvent):
    """62: clusters of losing closes that became throttled (``added``) or were released."""

    kind: Literal["risk_cluster_throttled"] = "risk_cluster_throttled"
    added: list[str]
    released: list[str]
    reason: str


class PromotionSimulated(_RiskEvent):
    """The COLD → WARM risk-governor simulation result (roadmap 64)."""

    kind: Literal["risk_promotion_simulated"] = "risk_promotion_simulated"
    strategy_id: str
    passed: bool
    orders: int
    breaches: list[dict[str, Any]]


def audit_sink(target: EventLog | AuditSink | None) -> AuditSink:
    """An audit sink writing to an EventLog, calling a callback, or (``None``) dropping events."""
    if target is None:
        return _drop
    if isinstance(target, EventLog):
        log = target

        def _append(event: BaseModel) -> None:
            log.append(event)

        return _append
    return target


def _drop(event: BaseModel) -> None:
    del event


def to_model_order(req: OrderRequest, venue: str) -> Order:
    """The domain ``Order`` an ``OrderDenied`` event carries (ids made valid for the domain model)."""
    i = req.intent
    sid = re.sub(r"[^a-z0-9-]", "-", i.strategy_id.lower()).strip("-")[:63] or "unknown"
    base, _, quote = i.symbol.partition("/")
    quote = quote.split(":")[0]
    clean = re.sub(r"[^a-z0-9-]", "-", venue.lower()) or "venue"
    inst = InstrumentId.of(
        re.sub(r"[^A-Z0-9]", "", base.upper()) or "X",
        re.sub(r"[^A-Z0-9]", "", quote.upper()) or "X",
        clean if clean[0].isalpha() else "v" + clean,
    )
    limit = i.type is ExecOrderType.LIMIT
    tif = {"IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}.get(i.time_in_force, TimeInForce.GTC)
    return Order(
        client_order_id=ClientOrderId(client_order_id(i.strategy_id, i.intent_id)),
        strategy_id=StrategyId(sid),
        instrument_id=inst,
        side=OrderSide(i.side.value),
        type=OrderType.LIMIT if limit else OrderType.MARKET,
        quantity=i.quantity,
        price=i.price if limit else None,
        time_in_force=tif,
        reduce_only=i.reduce_only,
    )
