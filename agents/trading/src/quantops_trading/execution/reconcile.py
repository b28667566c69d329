"""Order/fill book-keeping and reconciliation with the venue (roadmap 75).

Why it exists: fills arrive through several doors (the submit answer, polling, a restart), and a
crash can lose the local record of an order that the venue accepted. :class:`Ledger` keys fills by
(venue, symbol, trade id), so applying the same fill twice is a no-op — the property that makes
reconciliation converge "without double counting". :func:`reconcile` compares the ledger with
the venue's open orders and trades, adopts orders this library placed but forgot (client id
prefix), finalises orders that are no longer open, and reports any quantity mismatch.
Run it periodically and once on restart (with an empty or replayed ledger).

:func:`cancel_expired` is the stale-order TTL (roadmap 76): a resting order placed on yesterday's
signal is a position nobody decided to take today, so working orders older than the TTL are
cancelled through the connector (breaker and retries apply); one the venue no longer knows is
fetched and its final state recorded instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from quantops_trading.execution.client_ids import is_ours
from quantops_trading.execution.errors import OrderNotFound
from quantops_trading.execution.types import Fill, OrderStatus, Side, VenueOrder

__all__ = [
    "Ledger",
    "ReconcileReport",
    "TtlReport",
    "VenueCanceller",
    "VenueView",
    "cancel_expired",
    "reconcile",
]

_TERMINAL = frozenset({OrderStatus.CLOSED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


class VenueView(Protocol):
    """What reconciliation needs from a venue (a ``VenueConnector`` satisfies it)."""

    @property
    def venue(self) -> str: ...
    async def open_orders(self, symbol: str) -> list[VenueOrder]: ...
    async def my_trades(self, symbol: str, since_ms: int | None = None) -> list[Fill]: ...
    async def fetch_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder: ...


class VenueCanceller(VenueView, Protocol):
    """A venue view that can also cancel (a ``VenueConnector`` satisfies it)."""

    async def cancel(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder: ...


@dataclass
class Ledger:
    """Local truth: orders by client id and fills by trade id (idempotent)."""

    orders: dict[str, VenueOrder] = field(default_factory=dict)
    fills: dict[tuple[str, str, str], Fill] = field(default_factory=dict)
    created_ms: dict[str, int] = field(default_factory=dict)

    def record_order(self, order: VenueOrder, now_ms: int | None = None) -> None:
        self.orders[order.client_order_id] = order
        self.created_ms.setdefault(
            order.client_order_id, now_ms if now_ms is not None else order.timestamp_ms
        )

    def apply_fill(self, fill: Fill) -> bool:
        """Add a fill; False when it was already known (nothing changes)."""
        key = (fill.venue, fill.symbol, fill.trade_id)
        if key in self.fills:
            return False
        self.fills[key] = fill
        return True

    def filled(self, venue_order_id: str) -> Decimal:
        return sum(
            (f.quantity for f in self.fills.values() if f.venue_order_id == venue_order_id), Decimal(0)
        )

    def position(self, symbol: str) -> Decimal:
        """Signed base quantity from fills (fees not deducted)."""
        return sum(
            (
                f.quantity if f.side is Side.BUY else -f.quantity
                for f in self.fills.values()
                if f.symbol == symbol
            ),
            Decimal(0),
        )

    def working(self) -> list[VenueOrder]:
        return [o for o in self.orders.values() if o.status not in _TERMINAL]


@dataclass
class ReconcileReport:
    new_fills: list[Fill] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)  # client ids found on the venue, unknown locally
    finalised: list[str] = field(default_factory=list)  # local working orders no longer open
    mismatches: list[str] = field(default_factory=list)


async def reconcile(view: VenueView, ledger: Ledger, symbols: list[str]) -> ReconcileReport:
    """Converge ``ledger`` to the venue for ``symbols``; safe to run any number of times."""
    report = ReconcileReport()
    for symbol in symbols:
        for fill in await view.my_trades(symbol):
            if ledger.apply_fill(fill):
                report.new_fills.append(fill)
        open_now = {o.client_order_id: o for o in await view.open_orders(symbol)}
        for cid, order in open_now.items():
            if cid not in ledger.orders and is_ours(cid):
                report.adopted.append(cid)
            if cid in ledger.orders or is_ours(cid):
                ledger.record_order(order)
        for order in [
            o for o in ledger.working() if o.symbol == symbol and o.client_order_id not in open_now
        ]:
            final = await view.fetch_order(symbol, client_order_id=order.client_order_id)
            ledger.record_order(final)
            report.finalised.append(order.client_order_id)
        for order in [o for o in ledger.orders.values() if o.symbol == symbol]:
            local = ledger.filled(order.venue_order_id)
            if local != order.filled:
                report.mismatches.append(
                    f"{order.client_order_id}: venue filled {order.filled}, ledger has {local}"
                )
    return report


@dataclass
class TtlReport:
    cancelled: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)


async def cancel_expired(connector: VenueCanceller, ledger: Ledger, *, ttl_ms: int, now_ms: int) -> TtlReport:
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
