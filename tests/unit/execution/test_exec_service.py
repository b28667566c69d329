"""ExecutionService wiring against two real simulators through the real ccxt client: failover driven by
the health task and by call outcomes (69), fill gate before accounting (77), gated paper fallback (78),
priority queue on the venue path (80)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from exec_support import intent, make_connector

from quantops_trading.execution.breaker import BreakerConfig, BreakerState, CircuitBreaker
from quantops_trading.execution.client_ids import client_order_id
from quantops_trading.execution.retry import RetryPolicy
from quantops_trading.execution.service import AuditRecord, ExecutionService
from quantops_trading.execution.types import OrderStatus, Side
from quantops_trading.venue.config import SlippageModel, VenueConfig
from quantops_trading.venue.server import VenueServer
from quantops_trading.venue.testing import SimControl, running_venue, sample_config

D = Decimal


class GateCell:
    """The gate as the service sees it: a callable; tests flip ``value``."""

    def __init__(self, value: str = "GO") -> None:
        self.value = value

    def __call__(self) -> str:
        return self.value


def alpha(**kw: Any) -> VenueConfig:
    return sample_config(name="alpha", **kw)


def beta(**kw: Any) -> VenueConfig:
    return sample_config(name="beta", data_offset_ms=300_000, seed=9, **kw)


@asynccontextmanager
async def service(
    gate: GateCell,
    cfgs: tuple[VenueConfig, VenueConfig] | None = None,
    *,
    breaker: BreakerConfig | None = None,
    retry: RetryPolicy | None = None,
    **svc_kw: Any,
) -> AsyncIterator[tuple[ExecutionService, list[VenueServer]]]:
    async with AsyncExitStack() as stack:
        sims = [await stack.enter_async_context(running_venue(c)) for c in cfgs or (alpha(), beta())]
        conns = []
        for sim in sims:
            kw: dict[str, Any] = {"breaker": CircuitBreaker(breaker)} if breaker else {}
            conn, client = make_connector(sim.url, sim.cfg.name, **kw, **({"retry": retry} if retry else {}))
            stack.push_async_callback(client.close)
            conns.append(conn)
        svc_kw.setdefault("health_interval_s", None)
        svc = ExecutionService(
            conns[0], conns[1:], gate=gate, book_source=conns[0].client.fetch_order_book, **svc_kw
        )
        await svc.start()
        stack.push_async_callback(svc.close)
        yield svc, sims


class AuditWatch:
    """``on_audit`` callback: one event per audit kind, to await automatic decisions."""

    def __init__(self) -> None:
        self.events: dict[str, asyncio.Event] = {}

    def __call__(self, rec: AuditRecord) -> None:
        self.events.setdefault(rec.kind, asyncio.Event()).set()

    async def wait(self, kind: str) -> None:
        async with asyncio.timeout(10):
            await self.events.setdefault(kind, asyncio.Event()).wait()


async def sim_orders(sim: VenueServer) -> dict[str, str]:
    """client order id → status, as the simulator reports it on /_sim/state."""
    return {o["clientOrderId"]: o["status"] for o in (await SimControl(sim.url).state())["orders"]}


async def test_sustained_5xx_fails_over_to_backup_and_returns_after_hysteresis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = BreakerConfig(failure_threshold=2, cooldown_s=0.05, half_open_probes=1)
    probes: list[bool] = []  # every heartbeat outcome of the primary, in order
    probes_at: dict[str, int] = {}  # how many probes had happened when each decision was audited

    def on_audit(rec: AuditRecord) -> None:
        probes_at.setdefault(rec.kind, len(probes))
        watch(rec)

    watch = AuditWatch()
    kw: dict[str, Any] = {"health_interval_s": 0.02, "switch_after": 2, "recover_after": 3}
    async with service(GateCell(), breaker=fast, on_audit=on_audit, **kw) as (svc, (a, b)):
        heartbeat = svc.primary.heartbeat

        async def counted() -> bool:
            probes.append(await heartbeat())
            return probes[-1]

        monkeypatch.setattr(svc.primary, "heartbeat", counted)
        r1 = await svc.submit(intent("f1"))
        assert (r1.route, r1.venue) == ("live", "alpha")
        await SimControl(a.url).add_fault(kind="server_error")  # every path on A answers 503
        await watch.wait("failover")  # driven by the periodic health task only
        assert svc.failover.on_backup
        r2 = await svc.submit(intent("f2"))
        assert (r2.route, r2.venue) == ("live", "beta")
        assert r2.client_order_id in await sim_orders(b)
        await SimControl(a.url).clear_faults()
        cleared = len(probes)
        await watch.wait("failback")
        assert not svc.failover.on_backup
        good = probes[cleared : probes_at["failback"]]
        assert sum(good) >= kw["recover_after"]  # not on the first good probe: hysteresis
        r3 = await svc.submit(intent("f3"))
        assert r3.venue == "alpha"
        on_a = await sim_orders(a)
        assert r1.client_order_id in on_a and r3.client_order_id in on_a
        assert r2.client_order_id not in on_a
        decisions = [r for r in svc.audit if r.subject == "venue"]
        assert [r.kind for r in decisions] == ["failover", "failback"]
        assert "alpha → beta" in decisions[0].reason and "bad evaluations" in decisions[0].reason
        assert "beta → alpha" in decisions[1].reason and "good probes" in decisions[1].reason


async def test_failed_calls_on_the_primary_drive_the_failover_without_a_health_task() -> None:
    flaky = BreakerConfig(failure_threshold=1, cooldown_s=0.0, half_open_probes=2)
    async with service(GateCell(), breaker=flaky, retry=RetryPolicy(max_attempts=1), switch_after=2) as (
        svc,
        (a, _),
    ):
        await SimControl(a.url).add_fault(kind="server_error", path="/api/v3/order", method="POST")
        results = [await svc.submit(intent(f"c{i}")) for i in range(3)]
        assert [r.route for r in results] == ["failed", "failed", "live"]
        assert results[2].venue == "beta" and svc.failover.on_backup and svc.health_ticks == 0
        failover = next(r for r in svc.audit if r.kind == "failover")
        assert "call outcome on alpha" in failover.reason
        assert [r.kind for r in svc.audit if r.kind == "submit_failed"] == ["submit_failed"] * 2
        assert await sim_orders(a) == {}


async def test_mismatched_fill_is_quarantined_and_never_reaches_the_position() -> None:
    # Venue A slips market orders 3 % (far beyond the 50 bps the fill gate tolerates).
    cfgs = (alpha(slippage=SlippageModel(bps=D("300"))), beta())
    async with service(GateCell(), cfgs) as (svc, (a, _)):
        ok = await svc.submit(intent("q1", price="62500"))  # limit: the venue never slips past it
        assert ok.order is not None and ok.order.status is OrderStatus.CLOSED
        assert svc.ledger.position("BTC/USDT") == D("0.01")
        bad = await svc.submit(intent("q2", price=None))  # market: fills ~3 % above the best ask
        assert bad.order is not None and bad.order.filled == D("0.01")
        assert (await sim_orders(a))[bad.client_order_id] == "FILLED"  # the venue did fill it...
        assert svc.ledger.position("BTC/USDT") == D("0.01")  # ...but accounting never saw it
        assert svc.ledger.filled(bad.order.venue_order_id) == 0
        [q] = [r for r in svc.audit if r.kind == "quarantine"]
        assert q.subject == bad.client_order_id and "buy price" in q.reason and "above" in q.reason
        assert [v.fill.venue_order_id for v in svc.fill_gate.quarantined] == [bad.order.venue_order_id]
        await svc.health_tick()  # polling again neither books nor re-quarantines it
        assert svc.ledger.position("BTC/USDT") == D("0.01") and len(svc.fill_gate.quarantined) == 1


async def test_check_gate_paper_fills_on_live_books_while_both_venues_are_down() -> None:
    gate = GateCell("CHECK")
    slow = BreakerConfig(failure_threshold=2, cooldown_s=30.0)
    async with service(gate, breaker=slow) as (svc, sims):
        healthy = await svc.submit(intent("p0", price=None))  # CHECK with healthy venues: paper too
        assert healthy.route == "paper"
        assert all(c.breaker.state is BreakerState.CLOSED for c in svc.connectors)
        rules = {}
        for sim in sims:  # order entry and heartbeats fail; public market data still flows
            ctl = SimControl(sim.url)
            rules[sim.cfg.name] = await ctl.add_fault(kind="server_error", path="/api/v3/order")
            await ctl.add_fault(kind="server_error", path="/api/v3/time")
        for _ in range(3):
            await svc.health_tick()
        assert all(c.breaker.state is BreakerState.OPEN for c in svc.connectors)
        fill = await svc.submit(intent("p1", price=None, qty="0.05"))
        assert (fill.route, fill.venue) == ("paper", "alpha-paper")
        assert fill.order is not None and fill.order.status is OrderStatus.CLOSED
        book = await svc.connectors[0].client.fetch_order_book("BTC/USDT")
        assert fill.order.average is not None and fill.order.average >= book.asks[0][0] * D("0.99")
        assert svc.paper_ledger.position("BTC/USDT") == D("0.06") and svc.ledger.position("BTC/USDT") == 0
        rest = await svc.submit(intent("p2", price="60000"))
        assert rest.route == "paper" and rest.order is not None and rest.order.status is OrderStatus.OPEN
        gate.value = "GO"  # GO with every breaker open is demoted to paper, never sent blind
        demoted = await svc.submit(intent("p3", side=Side.SELL, price=None, qty="0.01"))
        assert demoted.route == "paper"
        assert any(r.kind == "demote" and r.subject == demoted.client_order_id for r in svc.audit)
        assert svc.paper_ledger.position("BTC/USDT") == D("0.05")
        for sim in sims:
            assert sim.engine.orders == {}
            faults = await SimControl(sim.url)._req("GET", "/_sim/faults")
            [order_rule] = [f for f in faults if f["id"] == rules[sim.cfg.name]]
            assert order_rule["seen"] == 0  # no order request even left the process


async def test_pause_cancels_entries_allows_reduce_only_and_stop_allows_only_cancels_and_unwind() -> None:
    gate = GateCell()
    async with service(gate) as (svc, (a, _)):
        await svc.submit(intent("g0", qty="0.02", price="62500"))
        entry = await svc.submit(intent("g1", price="60000"))
        exit_ = await svc.submit(intent("g2", side=Side.SELL, price="70000", reduce_only=True))
        assert svc.ledger.position("BTC/USDT") == D("0.02")
        gate.value = "PAUSE"
        [cancelled] = await svc.apply_gate()
        assert cancelled.client_order_id == entry.client_order_id and cancelled.route == "live"
        state = await sim_orders(a)
        assert state[entry.client_order_id] == "CANCELED" and state[exit_.client_order_id] == "NEW"
        assert any(r.kind == "gate_cancel" and "PAUSE" in r.reason for r in svc.audit)
        refused = await svc.submit(intent("g3", price="60000"))
        assert refused.route == "denied" and "PAUSE" in refused.reason
        assert refused.client_order_id not in await sim_orders(a)
        sold = await svc.submit(intent("g4", side=Side.SELL, qty="0.005", price="61000", reduce_only=True))
        assert sold.route == "live" and svc.ledger.position("BTC/USDT") == D("0.015")

        gate.value = "STOP"
        [cancelled] = await svc.apply_gate()  # STOP cancels the working reduce-only order too
        assert cancelled.client_order_id == exit_.client_order_id
        for i, kw in enumerate([{"reduce_only": True, "side": Side.SELL}, {}]):
            denied = await svc.submit(intent(f"g5{i}", qty="0.005", price="61000", **kw))
            assert denied.route == "denied" and "STOP" in denied.reason
        unwind = await svc.submit(
            intent("g6", side=Side.SELL, qty="0.005", price="70000", reduce_only=True), unwind=True
        )
        assert unwind.route == "live" and await svc.apply_gate() == []  # the unwind ladder is kept
        gone = await svc.cancel(unwind.client_order_id)
        assert gone.route == "live" and gone.order is not None and gone.order.status is OrderStatus.CANCELED
        assert "NEW" not in (await sim_orders(a)).values()


async def test_queue_sends_cancels_then_reduce_only_then_entries_by_confidence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with service(GateCell()) as (svc, (a, _)):
        await svc.submit(intent("o0", qty="0.02", price="62500"))
        r1 = await svc.submit(intent("o1", price="60000"))
        r2 = await svc.submit(intent("o2", price="60000"))
        seen: list[tuple[str, str]] = []
        place, cancel = a.engine.place, a.engine.cancel

        def spy_place(*args: Any) -> Any:
            seen.append(("place", args[7]))
            return place(*args)

        def spy_cancel(*args: Any) -> Any:
            seen.append(("cancel", args[3]))
            return cancel(*args)

        monkeypatch.setattr(a.engine, "place", spy_place)
        monkeypatch.setattr(a.engine, "cancel", spy_cancel)
        svc.hold()
        futures = [
            svc.enqueue_submit(intent("low", price="60000", confidence=0.2)),
            svc.enqueue_cancel(r1.client_order_id),
            svc.enqueue_submit(intent("high", price="60000", confidence=0.9)),
            svc.enqueue_submit(intent("red", side=Side.SELL, price="70000", reduce_only=True)),
            svc.enqueue_cancel(r2.client_order_id),
            svc.enqueue_submit(intent("mid", price="60000", confidence=0.5)),
        ]
        await asyncio.sleep(0.05)
        assert seen == [] and len(svc.queue) == 6  # held: nothing reached the venue
        svc.release()
        results = await asyncio.gather(*futures)
        assert all(r.route == "live" for r in results)
        cid = {name: client_order_id("s1", name) for name in ("low", "high", "red", "mid")}
        assert seen == [
            ("cancel", r1.client_order_id),
            ("cancel", r2.client_order_id),
            ("place", cid["red"]),
            ("place", cid["high"]),
            ("place", cid["mid"]),
            ("place", cid["low"]),
        ]
