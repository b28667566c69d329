"""Several simulator instances as different venues: routing (70), failover (69), paper fallback (78),
DNS check at start (68)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal

import pytest
from exec_support import intent, make_connector

from quantops_trading.adapters.ccxt import CcxtExecutionClient
from quantops_trading.execution.breaker import BreakerConfig, CircuitBreaker
from quantops_trading.execution.connector import VenueConnector
from quantops_trading.execution.dns import dns_check, static_resolver
from quantops_trading.execution.errors import ExchangeUnavailable
from quantops_trading.execution.paper import PaperBroker, choose_route
from quantops_trading.execution.retry import RetryPolicy
from quantops_trading.execution.routing import Failover, rank_venues, routing_matrix
from quantops_trading.execution.types import OrderStatus, Side
from quantops_trading.venue.server import VenueServer
from quantops_trading.venue.testing import SimControl, running_venue, sample_config

D = Decimal


@asynccontextmanager
async def two_venues(
    **kw: object,
) -> AsyncIterator[tuple[list[VenueServer], list[VenueConnector], list[CcxtExecutionClient]]]:
    cfgs = [
        sample_config(name="alpha", taker_fee=D("0.001")),
        sample_config(name="beta", taker_fee=D("0.0002"), data_offset_ms=300_000, seed=9),
    ]
    async with AsyncExitStack() as stack:
        sims = [await stack.enter_async_context(running_venue(c)) for c in cfgs]
        pairs = [make_connector(s.url, s.cfg.name, **kw) for s in sims]
        for conn, client in pairs:
            stack.push_async_callback(client.close)
            await conn.start()
        yield sims, [p[0] for p in pairs], [p[1] for p in pairs]


async def test_routing_matrix_ranks_by_depth_and_fees_on_real_books() -> None:
    async with two_venues() as (_, _conns, clients):
        books = {c.venue: await c.fetch_order_book("BTC/USDT") for c in clients}
        fees = {"alpha": D("0.001"), "beta": D("0.0002")}
        assert books["alpha"].nonce != books["beta"].nonce  # different data offsets
        small = rank_venues(Side.BUY, D("0.01"), books, fees)
        assert all(c.complete for c in small)
        best_all_in = min(c.all_in for c in small if c.all_in is not None)
        assert small[0].all_in == best_all_in
        huge = rank_venues(Side.BUY, D("1000"), books, fees)
        assert not any(c.complete for c in huge)  # nobody has that depth: flagged, not hidden
        matrix = routing_matrix(Side.SELL, {"BTC/USDT": D("0.5")}, {"BTC/USDT": books}, fees)
        sells = matrix["BTC/USDT"]
        assert sells[0].all_in is not None and sells[1].all_in is not None
        assert sells[0].all_in >= sells[1].all_in  # a seller wants the highest all-in price


async def test_fee_breaks_a_tie_between_identical_books() -> None:
    async with two_venues() as (_, _conns, clients):
        book = await clients[0].fetch_order_book("BTC/USDT")
        ranked = rank_venues(
            Side.BUY, D("0.1"), {"alpha": book, "beta": book}, {"alpha": D("0.001"), "beta": D("0.0002")}
        )
        assert [c.venue for c in ranked] == ["beta", "alpha"]


async def test_failover_switches_on_sustained_errors_and_returns_with_hysteresis() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=2, cooldown_s=0.0, half_open_probes=1))
    async with two_venues(retry=RetryPolicy(max_attempts=1)) as (sims, conns, _):
        primary, backup = conns
        primary.breaker = breaker
        fo = Failover(primary, backup, switch_after=2, recover_after=3)
        ctl = SimControl(sims[0].url)
        assert (await fo.submit(intent("a1"))).venue == "alpha"  # healthy so far
        rid = await ctl.add_fault(kind="server_error")
        for _ in range(2):
            await primary.heartbeat()  # sustained errors seen by the primary's breaker
        await fo.evaluate()
        assert not fo.on_backup  # one bad evaluation is not enough
        order = await fo.submit(intent("a2"))
        assert fo.on_backup and order.venue == "beta"
        await ctl.clear_faults(rid)
        evaluations = 0
        while fo.on_backup and evaluations < 20:
            await fo.evaluate()  # probes the primary each time
            evaluations += 1
        assert fo.recover_after <= evaluations < 20  # not on the first good probe: hysteresis
        order = await fo.submit(intent("a3"))
        assert order.venue == "alpha"
        assert fo.switches == ["alpha → beta", "beta → alpha"]


async def test_paper_broker_fills_on_live_books_when_venue_unavailable() -> None:
    async with two_venues() as (sims, conns, clients):
        live = conns[0]
        route = choose_route("GO", live_available=False, reduce_only=False)
        assert route == "paper"
        paper = PaperBroker("alpha-paper", clients[0].fetch_order_book, live.markets)
        paper_conn = VenueConnector(paper)
        await paper_conn.start()
        before = len(sims[0].engine.orders)
        m = await paper_conn.submit(intent("pp", price=None, qty="0.5"))
        assert m.status is OrderStatus.CLOSED and m.filled == D("0.5")
        book = await clients[0].fetch_order_book("BTC/USDT")
        assert m.average is not None and m.average >= book.asks[0][0]
        rest = await paper_conn.submit(intent("pr", price="60000"))
        assert rest.status is OrderStatus.OPEN
        assert len(sims[0].engine.orders) == before  # nothing reached the venue
        assert (
            await paper_conn.submit(intent("pp", price=None, qty="0.5"))
        ).venue_order_id == m.venue_order_id


async def test_dns_check_runs_before_warmup() -> None:
    async with running_venue() as sim:
        conn, client = make_connector(sim.url, "sim")
        conn._dns_check = dns_check("http://venue-a.sim:1/", [("static", static_resolver({}))])
        try:
            before = sim.requests
            with pytest.raises(ExchangeUnavailable, match=r"venue-a\.sim"):
                await conn.start()
            assert sim.requests == before and not conn.ready
            conn._dns_check = dns_check(
                "http://venue-a.sim:1/", [("hosts", static_resolver({"venue-a.sim": ["127.0.0.1"]}))]
            )
            await conn.start()
            assert conn.ready
        finally:
            await client.close()
