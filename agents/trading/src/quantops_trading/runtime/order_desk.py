"""OrderDesk: the venue side of every live order of one trader (roadmap 65, 71, 75–77, 79).

Why it exists: between the gateway's decision to send and the books of the strategies lie the
parts that go wrong on a real venue — an answer lost on the way back, a fill on the wrong side, an
order the venue still works after we forgot it, holdings that drifted from the books. The desk owns
them in one place, in this order: a send goes through :class:`RiskGateway` (the one door; a lost
answer is held by client id until the venue settles it, never sent again); every venue order of
ours is tracked with what it asked for; every venue fill is booked at most once by trade id, after
the :class:`FillGate` (77), or recorded as a fill of an order no book knows; working orders are
cancelled through here (the gateway counts the cancel); and :class:`VenueCheck` reconciles the
books with the venue's balances before the first order and on a schedule (75, 79). What a fill
means to a strategy (its own state, the allocator's evidence) is the caller's ``on_booked``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from quantops_api import Gate
from quantops_trading.adapters.ccxt.credentials import redact
from quantops_trading.execution.client_ids import client_order_id
from quantops_trading.execution.errors import ExchangeUnavailable, OrderNotFound, TradingError
from quantops_trading.execution.types import (
    Fill,
    MarketRules,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    Side,
    VenueOrder,
)
from quantops_trading.execution.validator import FillGate
from quantops_trading.model.events import OrderCancelled, OrderFilled
from quantops_trading.model.ids import ClientOrderId
from quantops_trading.model.orders import Fill as ModelFill
from quantops_trading.model.orders import Order
from quantops_trading.observability.trace import TraceContext, span, stamp, trace_fields
from quantops_trading.risk import RiskGateway
from quantops_trading.risk.book import OpenOrder
from quantops_trading.risk.events import to_model_order
from quantops_trading.risk.gateway import Decision
from quantops_trading.risk.killswitches import SwitchAction, pair_scope
from quantops_trading.risk.livefeed import MonitoredClient
from quantops_trading.runtime.inflight import InFlight, Resolution, Unresolved
from quantops_trading.runtime.venue_check import VenueCheck
from quantops_trading.storage.eventlog import EventLog

__all__ = ["OrderDesk", "Working", "as_asked", "emit"]


def emit(kind: str, **fields: Any) -> None:
    """One JSON event line on stdout, with the current trace's ids (the trader's and the desk's);
    redacted (an error's text can carry a signed URL)."""
    print(redact(json.dumps({"event": kind, **fields, **trace_fields()}, default=str)), flush=True)


def as_asked(strategy: str, vo: VenueOrder) -> OrderIntent:
    """What an order asked for, from the venue's record of it (adopted orders, unwind children)."""
    return OrderIntent(
        strategy_id=strategy,
        intent_id=vo.venue_order_id,
        symbol=vo.symbol,
        side=vo.side,
        type=vo.type,
        quantity=vo.quantity,
        price=vo.price,
    )


@dataclass
class Working:
    strategy: str
    symbol: str
    reduce_only: bool
    sent_at: float


def del_oldest(d: dict[str, Any], keep: int) -> None:
    """Bound a dict kept in insertion order to its newest ``keep`` entries."""
    for k in list(d)[: max(0, len(d) - keep)]:
        del d[k]


class OrderDesk:
    """Tracking, fills, cancels, lost answers and reconciliation for one trader's venue."""

    def __init__(
        self,
        client: MonitoredClient,
        gateway: RiskGateway,
        check: VenueCheck,
        *,
        markets: dict[str, MarketRules],
        logs: dict[str, EventLog],
        risk_log: EventLog,
        counts: dict[str, int],
        inflight: InFlight,
        max_fee_rate: Decimal,
        log_submitted: Callable[..., None],
        on_booked: Callable[[str, Fill, ModelFill, Decimal, Decimal], None],
        regime_of: Callable[[str], str | None],
    ) -> None:
        self.client, self.gateway, self.check = client, gateway, check
        self.venue = client.venue
        self.markets, self.logs, self.risk_log, self.counts = markets, logs, risk_log, counts
        self.inflight, self.max_fee_rate = inflight, max_fee_rate
        self.log_submitted, self.on_booked, self.regime_of = log_submitted, on_booked, regime_of
        self.working: dict[str, Working] = {}
        self.by_venue_id: dict[str, tuple[str, str]] = {}  # venue order id → (strategy, client id)
        self.asked: dict[str, OrderIntent] = {}  # venue order id → what it asked for (77)
        self.seen: set[str] = set()  # trade ids booked
        self.unowned: set[str] = set()  # venue trade ids of orders no book of ours knows
        self.fill_gate = FillGate()
        self.traces: dict[str, TraceContext] = {}  # client id → the span its order was sent in (95)
        self.reference: dict[str, Decimal] = {}  # venue order id → the mid it was decided on
        self.recent: deque[dict[str, Any]] = deque(maxlen=50)  # the last fills booked (dashboard)
        self.started = False  # after the first reconciliation: unowned fills are recorded one by one

    # -- sending ---------------------------------------------------------------------------------
    async def submit(self, name: str, req: OrderRequest) -> Decision | None:
        """One order through the gateway. A lost answer is held (the venue may have it); a reject
        is logged; a sent order is logged and tracked. ``None`` when no decision came back. The
        order is a child span of the current one (the signal's): its fills and cancel join it."""
        with span("order") as ctx:
            self.traces[client_order_id(name, req.intent.intent_id)] = ctx
            del_oldest(self.traces, 20_000)
            return await self._submit(name, req)

    async def _submit(self, name: str, req: OrderRequest) -> Decision | None:
        try:
            d = await self.gateway.submit(req)
        except ExchangeUnavailable as e:  # the answer was lost: the order may be on the venue
            cid, why = client_order_id(name, req.intent.intent_id), f"{type(e).__name__}: {e}"
            order = to_model_order(req, self.venue).model_dump(mode="json")
            unresolved = Unresolved(name, req.pair, req.intent.reduce_only, why, self.gateway.clock(), order)
            self.inflight.add(cid, unresolved)
            self.counts["unresolved"] += 1
            self.logs[name].append(
                {"kind": "order_unresolved", "ts_ns": time.time_ns(), "client_order_id": cid, "error": why}
                | {"order": order}  # a restart asks the venue about it (runtime/inflight.left_open)
            )
            emit("order_unresolved", strategy=name, client_order_id=cid, error=str(e))
            return None  # the gateway keeps it as an open order until the venue says what it is
        except TradingError as e:
            self.counts["rejected"] += 1
            self.logs[name].append({"kind": "order_rejected", "ts_ns": time.time_ns(), "reason": str(e)})
            self.gateway.order_closed(client_order_id(name, req.intent.intent_id))  # not working
            return None
        if d.action == "sent" and d.venue_order is not None and d.client_order_id is not None:
            self.log_submitted(name, to_model_order(req, self.venue), d.client_order_id)
            self.track(name, d.venue_order, d.client_order_id, req.intent.reduce_only, req.intent)
            self.reference[d.venue_order.venue_order_id] = req.reference_price
            del_oldest(self.reference, 20_000)
        return d

    def track(
        self, name: str, vo: VenueOrder, cid: str, reduce_only: bool, asked: OrderIntent | None = None
    ) -> None:
        """An order of ``name`` is on the venue: its fills are ours (checked against what was asked:
        the intent sent, else the venue's record of the order); working until final."""
        self.by_venue_id[vo.venue_order_id] = (name, cid)
        self.asked[vo.venue_order_id] = asked or as_asked(name, vo)
        if vo.status is OrderStatus.OPEN:
            self.working[cid] = Working(name, vo.symbol, reduce_only, self.gateway.clock())
            if cid not in self.gateway.book.open_orders:  # an adopted order: the gateway counts it too
                now = self.gateway.clock()
                self.gateway.book.open_orders[cid] = OpenOrder(cid, name, vo.symbol, now, reduce_only)
        else:
            self.gateway.order_closed(cid)

    def track_child(self, strategy: str, d: Decision) -> None:
        """An unwind child is one of our orders: its fills must reach the book and the log."""
        if d.venue_order is not None and d.client_order_id is not None:
            self.by_venue_id[d.venue_order.venue_order_id] = (strategy, d.client_order_id)
            self.asked[d.venue_order.venue_order_id] = as_asked(strategy, d.venue_order)
            self.counts["submitted"] += 1

    async def cancel(self, cid: str, reason: str) -> bool:
        with span("cancel", parent=self.traces.get(cid)):
            return await self._cancel(cid, reason)

    async def _cancel(self, cid: str, reason: str) -> bool:
        w = self.working.pop(cid)
        try:
            await self.gateway.cancel(w.strategy, w.symbol, cid)
        except OrderNotFound:
            self.gateway.order_closed(cid)
            return False  # already final on the venue (filled); its fills arrive via sync
        except TradingError as e:
            self.working[cid] = w
            emit("cancel_failed", client_order_id=cid, error=str(e))
            return False
        self.gateway.order_closed(cid)
        self.counts["cancelled"] += 1
        if w.strategy in self.logs:
            self.logs[w.strategy].append(
                stamp(OrderCancelled(client_order_id=ClientOrderId(cid), reason=reason))
            )
        return True

    # -- lost answers ----------------------------------------------------------------------------
    async def lookup(self, symbol: str, cid: str) -> VenueOrder:
        """The venue's order by client id (raises OrderNotFound when it has none)."""
        return await self.client.fetch_order(symbol, client_order_id=cid)

    async def resolve_inflight(self) -> None:
        """Settle lost-answer submits by asking the venue for each client id (runtime/inflight.py)."""
        for r in await self.inflight.resolve(self.lookup, self.gateway.clock()):
            self._settle(r)

    def _settle(self, r: Resolution) -> None:
        name, cid = r.item.strategy, r.client_order_id
        log = self.logs.get(name)
        if r.order is not None:
            emit("order_resolved", strategy=name, client_order_id=cid, status=r.order.status.value)
            if r.item.order is not None:  # a lost answer: the submission is logged now
                self.log_submitted(name, Order.model_validate(r.item.order), cid, resolvedAfter=r.item.error)
            elif log is not None:  # the previous run's order, logged then
                log.append(
                    {"kind": "order_adopted", "ts_ns": time.time_ns(), "client_order_id": cid}
                    | {"status": r.order.status.value, "filled": str(r.order.filled)}
                )
            self.track(name, r.order, cid, r.item.reduce_only)
            return
        self.gateway.order_closed(cid)
        if r.item.order is None:  # logged as placed, and the venue no longer knows it
            emit("order_gone", strategy=name, client_order_id=cid)
            if log is not None:
                log.append({"kind": "order_gone", "ts_ns": time.time_ns(), "client_order_id": cid})
            return
        self.counts["rejected"] += 1
        waited = f"{self.inflight.grace_s:g}s"
        reason = f"not placed: {r.item.error}; the venue has no order {cid} {waited} after the send"
        emit("order_not_placed", strategy=name, client_order_id=cid, reason=reason)
        if log is not None:
            log.append(
                {"kind": "order_rejected", "ts_ns": time.time_ns(), "reason": reason, "client_order_id": cid}
            )

    # -- fills -----------------------------------------------------------------------------------
    async def sync(self, symbols: set[str]) -> None:
        """Fills of our orders (once each) into the books, the strategies and their logs; closed
        orders leave the working set. ``symbols``: the traded pairs (working orders' are added)."""
        await self.resolve_inflight()  # before the fills: an adopted order's fills are ours
        for symbol in sorted(symbols | {w.symbol for w in self.working.values()}):
            for f in await self.client.fetch_my_trades(symbol):
                if f.trade_id in self.seen:
                    continue
                if f.venue_order_id not in self.by_venue_id:
                    self._unowned(f)
                    continue
                self.seen.add(f.trade_id)
                if self._admit(f):
                    self.book(f)
            open_ids = {o.client_order_id for o in await self.client.fetch_open_orders(symbol)}
            for cid in [c for c, w in self.working.items() if w.symbol == symbol and c not in open_ids]:
                del self.working[cid]
                self.gateway.order_closed(cid)

    def _unowned(self, f: Fill) -> None:
        """A venue fill of an order no book of ours knows (a trade by hand, a send whose record was
        lost): never booked — reconciliation PAUSEs the pair on the drift — but recorded once with
        its reason. Those already on the venue at start are counted in one record instead."""
        if f.trade_id in self.unowned:
            return
        self.unowned.add(f.trade_id)
        if not self.started:
            return
        rec = {"kind": "fill_unowned", "ts_ns": time.time_ns(), "fill": f.model_dump(mode="json")}
        self.risk_log.append(
            rec | {"reason": f"fill for order {f.venue_order_id}, which no book of ours knows"}
        )
        emit("fill_unowned", symbol=f.symbol, trade_id=f.trade_id, venue_order_id=f.venue_order_id)

    def _admit(self, f: Fill) -> bool:
        """77: a fill is checked against the order we asked for before it is booked. A wrong-side,
        overfilled, off-price or absurd-fee fill is quarantined with its reasons (event logs, audit)
        and PAUSEs its pair: the venue now holds something the book does not, and a person looks."""
        asked = self.asked.get(f.venue_order_id)
        if asked is None:
            return True
        rules = self.markets.get(f.symbol)
        allowance = (
            (rules.step_size if f.fee_currency == rules.base else rules.tick_size) if rules else Decimal(0)
        )
        verdict = self.fill_gate.admit(asked, f, fee_allowance=allowance, max_fee_rate=self.max_fee_rate)
        if verdict.ok:
            return True
        name, cid = self.by_venue_id[f.venue_order_id]
        why = "; ".join(verdict.reasons)
        self.counts["fillsQuarantined"] += 1
        self.logs[name].append(
            {"kind": "fill_quarantined", "ts_ns": time.time_ns(), "client_order_id": cid, "reason": why}
            | {"fill": f.model_dump(mode="json")}
        )
        refused = f"fill {f.trade_id} refused: {why}"
        self.gateway.apply(
            [SwitchAction(pair_scope(f.symbol), "fill_validation", Gate.PAUSE, refused)], actor="fill-gate"
        )
        return False

    def book(self, f: Fill) -> None:
        """Book one admitted fill: the gateway's risk book, the holdings reconciliation compares,
        the strategy's log, then ``on_booked`` (the strategy and the allocator's evidence) — in a
        child span of the order's (a restored order's fill starts its own trace)."""
        with span("fill", parent=self.traces.get(self.by_venue_id[f.venue_order_id][1])):
            self._book(f)

    def _book(self, f: Fill) -> None:
        name, cid = self.by_venue_id[f.venue_order_id]
        before = self.gateway.book.position(name, f.symbol)
        realised = self.gateway.on_fill(name, f, regime=self.regime_of(f.symbol))
        self.check.holdings.note_fill(f.symbol, f.side, f.quantity, f.price, f.fee, f.fee_currency)
        self.counts["filled"] += 1
        mf = f.to_model(cid, self.venue)
        if name in self.logs:
            self.logs[name].append(stamp(OrderFilled(fill=mf)))
        ref = self.reference.get(f.venue_order_id)
        slip = (f.price - ref) / ref * 10_000 * (1 if f.side is Side.BUY else -1) if ref else None
        self.recent.append(
            {"at": self.gateway.clock(), "strategy": name, "pair": f.symbol, "side": f.side.value}
            | {"quantity": str(f.quantity), "price": str(f.price), "fee": str(f.fee)}
            | {"feeCurrency": f.fee_currency, "realised": str(realised), "clientOrderId": cid}
            | {"slippageBps": None if slip is None else round(float(slip), 2)}  # vs the mid decided on
        )
        self.on_booked(name, f, mf, before, realised)

    # -- reconciliation --------------------------------------------------------------------------
    async def first_reconcile(self, symbols: set[str]) -> None:
        """79: the venue answers for what the books hold before any order — held orders settled,
        orphans cancelled, a baseline, a reconciliation pass (a second one confirms a first
        disagreement). Raises :class:`TradingError` while the venue cannot answer."""
        await self.sync(symbols)
        await self.check.take_baseline(self.seen)
        for rec in await self.check.cancel_orphans(set(self.working) | set(self.inflight.items)):
            self.counts["orphansCancelled"] += 1
            emit("orphan_order_cancelled", **{k: v for k, v in rec.items() if k != "kind"})
        for _ in range(2):
            if self.check.passes and not self.check.suspect:
                break
            await self.sync(symbols)
            self.gateway.apply(await self.check.check(), actor="reconciliation")
        if self.unowned:
            n = len(self.unowned)
            self.risk_log.append({"kind": "fills_unowned_at_start", "ts_ns": time.time_ns(), "count": n})
        self.started = True

    async def reconcile_if_due(self) -> None:
        """75: a scheduled pass (right after a sync: the books hold every fill seen)."""
        if self.check.due():
            self.gateway.apply(await self.check.check(), actor="reconciliation")

    def unagreed(self, symbol: str) -> bool:
        """Whether the pair's base asset disagrees with the venue, not yet confirmed: no new order."""
        rules = self.markets.get(symbol)
        return rules is not None and rules.base in self.check.suspect

    async def settle_held(self) -> None:
        """Ask the venue about held orders now, if it answers (before cancelling what works)."""
        if self.inflight.items:
            with contextlib.suppress(TradingError):
                await self.resolve_inflight()
