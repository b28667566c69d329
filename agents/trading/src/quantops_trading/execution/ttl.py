"""Auto-cancel of working orders older than a TTL (roadmap 76).

Why it exists: a resting order placed on yesterday's signal is a position nobody decided to take
today. Every working order in the ledger whose age exceeds ``ttl_ms`` is cancelled through the
connector (so breaker and retries apply); an order the venue no longer knows is fetched and its
final state recorded instead. Time is passed in. Returns what it did, for logs and events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quantops_trading.execution.connector import VenueConnector
from quantops_trading.execution.errors import OrderNotFound
from quantops_trading.execution.reconcile import Ledger

__all__ = ["TtlReport", "cancel_expired"]


@dataclass
class TtlReport:
    cancelled: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)


async def cancel_expired(connector: VenueConnector, ledger: Ledger, *, ttl_ms: int, now_ms: int) -> TtlReport:
    """Cancel every working order of ``connector``'s venue older than ``ttl_ms``."""
    report = TtlReport()
    for order in ledger.working():
        if order.venue != connector.venue:
            continue
        age = now_ms - ledger.created_ms.get(order.client_order_id, order.timestamp_ms)
        if age <= ttl_ms:
            continue
        try:
            done = await connector.cancel(order.symbol, client_order_id=order.client_order_id)
            report.cancelled.append(order.client_order_id)
        except OrderNotFound:
            done = await connector.fetch_order(order.symbol, client_order_id=order.client_order_id)
            report.already_done.append(order.client_order_id)
        ledger.record_order(done)
    return report
