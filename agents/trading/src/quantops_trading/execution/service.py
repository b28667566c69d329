"""The execution service: one gated door from strategies to venues (roadmap 69, 77, 78, 80 wired).

Why it exists: connectors, failover, the fill gate, the paper broker and the priority queue are each
correct alone, but safety comes from their composition — a failover nobody evaluates never switches,
a fill gate nobody calls guards nothing. :class:`ExecutionService` owns them and fixes the order:

* every submit/cancel is an action in the :class:`ActionQueue`; one worker drains it, so a venue
  sees cancels, then reduce-only orders, then entries by confidence;
* at dispatch the gate (a callable) picks the route: GO → live venue, CHECK → in-process
  :class:`PaperBroker` on live books (never a venue), PAUSE → reduce-only live, STOP → cancels and
  explicit ``unwind`` reduce-only orders only; GO with the breaker open on every venue is demoted to
  paper (``choose_route``); PAUSE/STOP also cancel working orders;
* the :class:`Failover` is evaluated by a periodic health task and after every call on the primary;
* every fill (venue or paper) passes the :class:`FillGate` before the ledger (position accounting);
  mismatches are quarantined with their reasons and never applied;
* every automatic decision is an :class:`AuditRecord` with its reason (``audit`` + ``on_audit``).
  The connectors' clients stay owned (and closed) by whoever created them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from prometheus_client import CollectorRegistry

from quantops_trading.execution.client_ids import client_order_id
from quantops_trading.execution.connector import ConnectorConfig, VenueConnector
from quantops_trading.execution.errors import NotReady, OrderNotFound, OrderRejected, TradingError
from quantops_trading.execution.latency import LatencyTracker
from quantops_trading.execution.paper import BookSource, PaperBroker, choose_route
from quantops_trading.execution.queue import ActionKind, ActionQueue
from quantops_trading.execution.reconcile import Ledger
from quantops_trading.execution.routing import Failover
from quantops_trading.execution.types import Fill, Gate, OrderIntent, OrderType, Side, VenueOrder
from quantops_trading.execution.validator import FillGate

__all__ = ["ActionResult", "AuditRecord", "ExecutionService", "GateSource"]

log = logging.getLogger(__name__)

GateSource = Callable[[], Gate | str]


@dataclass(frozen=True)
class AuditRecord:
    """An automatic decision: failover, failback, demote, deny, gate_cancel, quarantine, ..."""

    kind: str
    reason: str
    subject: str = ""  # client order id, or "venue" for failover decisions
    venue: str = ""
    ts_ms: int = 0


@dataclass(frozen=True)
class ActionResult:
    action: str  # "submit" | "cancel"
    route: str  # "live" | "paper" | "denied" | "failed"
    client_order_id: str
    venue: str = ""
    order: VenueOrder | None = None
    reason: str = ""


@dataclass
class _Action:
    kind: ActionKind
    intent: OrderIntent | None = None
    client_order_id: str = ""
    unwind: bool = False
    reason: str = ""
    confidence: float = 0.5
    future: asyncio.Future[ActionResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class _Tracked:
    intent: OrderIntent
    ledger: Ledger
    reference: Decimal | None  # best opposite price at submit, for market-order fill validation
    unwind: bool


@dataclass
class ExecutionService:
    """Gate → queue → failover/paper → fill gate → ledger, around a primary and backup connectors."""

    primary: VenueConnector
    backups: Sequence[VenueConnector]
    gate: GateSource
    book_source: BookSource  # live books (the market-data side) that paper orders fill against
    switch_after: int = 3
    recover_after: int = 5
    health_interval_s: float | None = 1.0  # None: no background task, call health_tick() yourself
    on_audit: Callable[[AuditRecord], None] | None = None
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000)
    audit: list[AuditRecord] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)  # live fills and orders
    paper_ledger: Ledger = field(default_factory=Ledger)  # would-be orders and paper fills
    fill_gate: FillGate = field(default_factory=FillGate)
    health_ticks: int = 0

    def __post_init__(self) -> None:
        if not self.backups:
            raise ValueError("ExecutionService needs at least one backup venue")
        self.connectors = [self.primary, *self.backups]
        self.failover = Failover(
            self.primary, self.backups[0], switch_after=self.switch_after, recover_after=self.recover_after
        )
        self.queue: ActionQueue[_Action] = ActionQueue()
        self.paper: PaperBroker | None = None
        self._paper_conn: VenueConnector | None = None
        self._tracked: dict[str, _Tracked] = {}
        self._by_venue_id: dict[tuple[str, str], str] = {}
        self._seen: set[tuple[str, str, str]] = set()
        self._pending_cancel: set[str] = set()
        self._released = asyncio.Event()
        self._released.set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Warm up the venues (a failing one is audited, not fatal), the paper broker and the tasks."""
        markets = None
        for c in self.connectors:
            if not c.ready:
                try:
                    await c.start()
                except TradingError as e:
                    self._record("venue_not_ready", str(e), venue=c.venue)
                    continue
            markets = markets or c.markets
        if markets is None:
            raise NotReady("no venue could be started: the paper broker has no market rules")
        self.paper = PaperBroker(f"{self.primary.venue}-paper", self.book_source, markets, now_ms=self.now_ms)
        self._paper_conn = VenueConnector(
            self.paper,
            config=ConnectorConfig(warmup_heartbeats=1, warmup_interval_s=0.0),
            latency=LatencyTracker(self.paper.venue, CollectorRegistry()),
        )
        await self._paper_conn.start()
        self._tasks.append(asyncio.create_task(self._worker()))
        if self.health_interval_s is not None:
            self._tasks.append(asyncio.create_task(self._health_loop(self.health_interval_s)))

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def enqueue_submit(self, intent: OrderIntent, *, unwind: bool = False) -> asyncio.Future[ActionResult]:
        """Queue an order; ``unwind`` lets a reduce-only order through STOP (the flatten ladder)."""
        kind = ActionKind.REDUCE if intent.reduce_only else ActionKind.ENTRY
        return self._put(_Action(kind, intent=intent, unwind=unwind, confidence=intent.confidence))

    def enqueue_cancel(self, client_order_id: str, reason: str = "requested") -> asyncio.Future[ActionResult]:
        return self._put(_Action(ActionKind.CANCEL, client_order_id=client_order_id, reason=reason))

    async def submit(self, intent: OrderIntent, *, unwind: bool = False) -> ActionResult:
        return await self.enqueue_submit(intent, unwind=unwind)

    async def cancel(self, client_order_id: str, reason: str = "requested") -> ActionResult:
        return await self.enqueue_cancel(client_order_id, reason)

    def hold(self) -> None:
        """Stop draining the queue (actions keep queueing) until :meth:`release`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()
        self._wake.set()

    def enforce_gate(self) -> list[asyncio.Future[ActionResult]]:
        """Under PAUSE queue cancels of working entries; under STOP of every working non-unwind order."""
        g = Gate(self.gate())
        if g not in (Gate.PAUSE, Gate.STOP):
            return []
        futures = []
        for ledger in (self.ledger, self.paper_ledger):
            for order in ledger.working():
                cid = order.client_order_id
                t = self._tracked.get(cid)
                if t is None or cid in self._pending_cancel:
                    continue
                if (g is Gate.PAUSE and t.intent.reduce_only) or (g is Gate.STOP and t.unwind):
                    continue
                what = "reduce-only order" if t.intent.reduce_only else "entry"
                reason = f"gate {g}: working {what} cancelled"
                self._record("gate_cancel", reason, subject=cid, venue=order.venue)
                self._pending_cancel.add(cid)
                futures.append(self.enqueue_cancel(cid, reason))
        return futures

    async def apply_gate(self) -> list[ActionResult]:
        """:meth:`enforce_gate` and wait for the cancels (the worker must not be on hold)."""
        return list(await asyncio.gather(*self.enforce_gate()))

    async def health_tick(self) -> None:
        """Heartbeat the venues, evaluate the failover, enforce the gate, pick up fills."""
        self.health_ticks += 1
        fo = self.failover
        for c in self.connectors:  # while on backup the Failover itself probes the primary
            if c.ready and c.breaker.allow() and not (c is fo.primary and fo.on_backup):
                await c.heartbeat()
        await self._evaluate("health check")
        self.enforce_gate()
        await self.poll_fills()

    async def poll_fills(self) -> None:
        """Refresh working orders and pass their new fills through the fill gate."""
        for ledger in (self.ledger, self.paper_ledger):
            for venue, symbol in sorted({(o.venue, o.symbol) for o in ledger.working()}):
                conn = self._conn_for(venue)
                if conn is None or not conn.breaker.allow():
                    continue
                try:
                    if self.paper is not None and conn is self._paper_conn:
                        await self.paper.poll(symbol)
                    open_ids = {o.client_order_id for o in await conn.open_orders(symbol)}
                    for o in ledger.working():
                        cid = o.client_order_id
                        if o.venue == venue and o.symbol == symbol and cid not in open_ids:
                            ledger.record_order(await conn.fetch_order(symbol, client_order_id=cid))
                    for fill in await conn.my_trades(symbol):
                        self._admit(fill)
                except TradingError as e:
                    log.warning("fill poll on %s %s failed: %s", venue, symbol, e)

    def _put(self, action: _Action) -> asyncio.Future[ActionResult]:
        self.queue.put(action, action.kind, action.confidence)
        self._wake.set()
        return action.future

    async def _worker(self) -> None:
        while True:
            await self._released.wait()
            if not len(self.queue):
                self._wake.clear()
                await self._wake.wait()
                continue
            action = self.queue.pop()
            if action.kind is not ActionKind.CANCEL and self.enforce_gate():
                self._put(action)  # a gate flip's cancels go first
                continue
            if action.future.cancelled():
                continue  # the caller gave up before it was dispatched
            run = self._cancel if action.kind is ActionKind.CANCEL else self._submit
            try:
                result = await run(action)
            except Exception as e:  # a bug must reach the caller, not kill the worker
                if not action.future.done():
                    action.future.set_exception(e)
                continue
            if not action.future.done():
                action.future.set_result(result)

    async def _health_loop(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.health_tick()
            except Exception:
                log.exception("execution health tick failed")

    def _pick_live(self) -> VenueConnector | None:
        active = self.failover.active
        ordered = [active, *(c for c in self.connectors if c is not active)]
        return next((c for c in ordered if c.ready and c.breaker.allow()), None)

    async def _submit(self, a: _Action) -> ActionResult:
        assert a.intent is not None and self._paper_conn is not None
        intent, g = a.intent, Gate(self.gate())
        cid = client_order_id(intent.strategy_id, intent.intent_id, 0)
        live = self._pick_live()
        if g is Gate.STOP and a.unwind and intent.reduce_only:
            route = "live" if live is not None else "deny:venue unavailable"
        else:
            route = choose_route(g, live_available=live is not None, reduce_only=intent.reduce_only)
        if route.startswith("deny:"):
            reason = f"{route[5:]}: {intent.side} {intent.quantity} {intent.symbol} refused"
            self._record("deny", reason, subject=cid)
            return ActionResult("submit", "denied", cid, reason=reason)
        conn, ledger = (self._paper_conn, self.paper_ledger) if route == "paper" else (live, self.ledger)
        assert conn is not None
        if route == "paper" and g is not Gate.CHECK:
            states = ", ".join(f"{c.venue}={c.breaker.state}" for c in self.connectors)
            self._record("demote", f"gate {g} demoted to CHECK: no venue available ({states})", subject=cid)
        try:
            ref = await self._reference(conn, intent)
            position = ledger.position(intent.symbol) if intent.reduce_only else None
            order = await conn.submit(intent, position=position)
        except TradingError as e:
            if not isinstance(e, OrderRejected):
                self._record("submit_failed", f"{type(e).__name__}: {e}", subject=cid, venue=conn.venue)
            await self._after_call(conn)
            return ActionResult("submit", "failed", cid, conn.venue, reason=f"{type(e).__name__}: {e}")
        await self._after_call(conn)
        ledger.record_order(order, self.now_ms())
        self._tracked[cid] = _Tracked(intent, ledger, ref, a.unwind)
        self._by_venue_id[(order.venue, order.venue_order_id)] = cid
        await self._collect(conn, order)
        return ActionResult("submit", route, cid, conn.venue, ledger.orders[cid])

    async def _cancel(self, a: _Action) -> ActionResult:
        cid = a.client_order_id
        self._pending_cancel.discard(cid)
        t = self._tracked.get(cid)
        conn = None if t is None else self._conn_for(t.ledger.orders[cid].venue)
        if t is None or conn is None:
            return ActionResult("cancel", "failed", cid, reason="unknown client order id")
        order = t.ledger.orders[cid]
        route = "paper" if conn is self._paper_conn else "live"
        try:
            try:
                done = await conn.cancel(order.symbol, client_order_id=cid)
            except OrderNotFound:  # already final on the venue: record how it ended
                done = await conn.fetch_order(order.symbol, client_order_id=cid)
        except TradingError as e:
            await self._after_call(conn)
            return ActionResult("cancel", "failed", cid, conn.venue, reason=f"{type(e).__name__}: {e}")
        await self._after_call(conn)
        t.ledger.record_order(done)
        await self._collect(conn, done)
        return ActionResult("cancel", route, cid, conn.venue, t.ledger.orders[cid], reason=a.reason)

    async def _reference(self, conn: VenueConnector, intent: OrderIntent) -> Decimal | None:
        if intent.type is not OrderType.MARKET:
            return None  # a limit order is validated against its own limit price
        book = await conn.call(lambda: conn.client.fetch_order_book(intent.symbol, 5))
        levels = book.asks if intent.side is Side.BUY else book.bids
        return levels[0][0] if levels else None

    async def _after_call(self, conn: VenueConnector) -> None:
        """A call's outcome on the primary feeds its breaker; re-evaluate the failover on it."""
        if conn is self.failover.primary:
            await self._evaluate(f"call outcome on {conn.venue}")

    async def _evaluate(self, trigger: str) -> None:
        fo = self.failover
        before = len(fo.switches)
        await fo.evaluate()
        for switch in fo.switches[before:]:
            b = fo.primary.breaker
            state = f"primary breaker {b.state}, health {b.health:.2f} ({trigger})"
            if fo.on_backup:
                last = b.transitions[-1][2] if b.transitions else "none"
                why = f"{switch}: {fo.switch_after} bad evaluations in a row, {state}; last: {last}"
                self._record("failover", why, subject="venue", venue=fo.backup.venue)
            else:
                why = f"{switch}: {fo.recover_after} good probes in a row (health ≥ {fo.high}), {state}"
                self._record("failback", why, subject="venue", venue=fo.primary.venue)

    async def _collect(self, conn: VenueConnector, order: VenueOrder) -> None:
        if order.filled <= 0:
            return
        try:
            fills = await conn.my_trades(order.symbol)
        except TradingError as e:  # the health tick's poll picks them up later
            log.warning("fills of %s on %s not fetched: %s", order.client_order_id, conn.venue, e)
            return
        for fill in fills:
            if fill.venue_order_id == order.venue_order_id:
                self._admit(fill)

    def _admit(self, fill: Fill) -> None:
        """The only way a fill reaches a ledger: through the fill gate, exactly once."""
        key = (fill.venue, fill.symbol, fill.trade_id)
        cid = self._by_venue_id.get((fill.venue, fill.venue_order_id))
        if cid is None or key in self._seen:
            return  # not ours (another client of the account), or already judged
        self._seen.add(key)
        t = self._tracked[cid]
        limits = {} if t.reference is None else {"reference_price": t.reference}
        verdict = self.fill_gate.admit(t.intent, fill, **limits)
        if verdict.ok:
            t.ledger.apply_fill(fill)
        else:
            reasons = "; ".join(verdict.reasons)
            why = f"fill {fill.trade_id} ({fill.side} {fill.quantity} @ {fill.price}): {reasons}"
            self._record("quarantine", why, subject=cid, venue=fill.venue)

    def _conn_for(self, venue: str) -> VenueConnector | None:
        if self._paper_conn is not None and venue == self._paper_conn.venue:
            return self._paper_conn
        return next((c for c in self.connectors if c.venue == venue), None)

    def _record(self, kind: str, reason: str, *, subject: str = "", venue: str = "") -> None:
        rec = AuditRecord(kind, reason, subject, venue, self.now_ms())
        self.audit.append(rec)
        log.info("execution %s %s %s: %s", kind, venue, subject, reason)
        if self.on_audit is not None:
            self.on_audit(rec)
