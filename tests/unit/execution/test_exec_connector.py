"""The connector against the real simulator through the real ccxt client (roadmap 67, 71, 73, 74, 79)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from exec_support import FAST_RETRY, intent, rig, venue_orders
from prometheus_client import CollectorRegistry

from quantops_trading.execution.breaker import BreakerConfig, BreakerState, CircuitBreaker
from quantops_trading.execution.connector import ConnectorConfig
from quantops_trading.execution.errors import (
    BadSymbol,
    CircuitOpen,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    NotReady,
    RateLimited,
)
from quantops_trading.execution.latency import LatencyTracker
from quantops_trading.execution.retry import RetryPolicy
from quantops_trading.execution.types import OrderStatus, Side
from quantops_trading.venue.config import FaultRule, LatencyModel
from quantops_trading.venue.testing import sample_config


async def test_warmup_needs_n_heartbeats_before_trading() -> None:
    async with rig(start=False, config=ConnectorConfig(warmup_heartbeats=3, warmup_interval_s=0.0)) as r:
        with pytest.raises(NotReady):
            await r.conn.submit(intent())
        await r.ctl.add_fault(kind="maintenance", path="/api/v3/time", count=2)
        await r.conn.start()
        assert r.conn.ready and r.conn.heartbeats_ok == 3
        assert "BTC/USDT" in r.conn.markets


async def test_warmup_gives_up_when_heartbeats_keep_failing() -> None:
    cfg = sample_config(faults=[FaultRule(kind="server_error", path="/api/v3/time")])
    async with rig(
        cfg, start=False, config=ConnectorConfig(warmup_max_attempts=4, warmup_interval_s=0.0)
    ) as r:
        with pytest.raises(NotReady, match="0/3"):
            await r.conn.start()
        assert not r.conn.ready


@pytest.mark.parametrize(
    ("kw", "exc", "text"),
    [
        ({"symbol": "DOGE/USDT"}, BadSymbol, "unknown symbol"),
        ({"qty": "0.000015"}, InvalidOrder, "step size"),
        ({"price": "60000.001"}, InvalidOrder, "tick size"),
        ({"qty": "0.00001"}, InvalidOrder, "notional"),
        ({"time_in_force": "GTD"}, InvalidOrder, "time in force"),
        ({"reduce_only": True}, InvalidOrder, "needs the current position"),
    ],
)
async def test_bad_input_fails_before_anything_is_sent(kw: dict[str, object], exc: type, text: str) -> None:
    async with rig() as r:
        before = r.sim.requests
        with pytest.raises(exc, match=text):
            await r.conn.submit(intent(**kw))  # type: ignore[arg-type]  # parametrized overrides
        assert r.sim.requests == before and r.sim.engine.orders == {}


async def test_reduce_only_is_enforced_by_the_library() -> None:
    async with rig() as r:
        with pytest.raises(InvalidOrder, match="increase"):
            await r.conn.submit(intent(side=Side.BUY, reduce_only=True), position=Decimal("0.5"))
        with pytest.raises(InvalidOrder, match="exceeds"):
            await r.conn.submit(
                intent(side=Side.SELL, qty="1", price="70000", reduce_only=True), position=Decimal("0.5")
            )
        o = await r.conn.submit(
            intent(side=Side.SELL, price="70000", reduce_only=True), position=Decimal("0.5")
        )
        assert o.status is OrderStatus.OPEN


async def test_submit_returns_decimal_order_with_deterministic_client_id() -> None:
    async with rig() as r:
        o = await r.conn.submit(intent())
        assert o.client_order_id == r.conn.client_id_for(intent())
        assert o.price == Decimal(60000) and o.quantity == Decimal("0.01") and o.status is OrderStatus.OPEN
        m = await r.conn.submit(intent("i2", price=None))
        assert m.status is OrderStatus.CLOSED and m.filled == Decimal("0.01")
        assert isinstance(m.average, Decimal)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "drop_after_accept", "count": 1},  # accepted, answer lost
        {"kind": "timeout", "delay_s": 1.3, "count": 1},  # client gives up; venue accepts later
        {"kind": "server_error", "count": 2},  # never reached the venue, twice
    ],
)
async def test_retried_submit_never_creates_a_second_order(fault: dict[str, object]) -> None:
    async with rig() as r:
        await r.ctl.add_fault(path="/api/v3/order", method="POST", **fault)
        o = await r.conn.submit(intent())
        cid = r.conn.client_id_for(intent())
        assert o.client_order_id == cid and o.status is OrderStatus.OPEN
        again = await r.conn.submit(intent())  # the strategy resubmits the same intent: adopted
        assert again.venue_order_id == o.venue_order_id
        assert venue_orders(r.sim, cid) == 1 and len(r.sim.engine.orders) == 1


async def test_final_errors_are_not_retried() -> None:
    async with rig() as r:
        before = r.sim.requests
        with pytest.raises(InsufficientFunds):
            await r.conn.submit(intent(symbol="ETH/BTC", side=Side.SELL, qty="50", price="0.1"))
        assert r.sim.requests - before == 2  # one book check + exactly one order POST


async def test_rate_limit_carries_retry_after_and_exhausts_retries() -> None:
    async with rig(retry=RetryPolicy(max_attempts=1)) as r:
        await r.ctl.add_fault(kind="rate_limit", retry_after_s=7)
        with pytest.raises(RateLimited) as info:
            await r.conn.call(r.client.fetch_time)
        assert info.value.retry_after == 7 and info.value.retryable


async def test_clock_skew_is_healed_by_resync_then_retry() -> None:
    async with rig() as r:
        await r.ctl.add_fault(kind="clock_skew", skew_ms=-40_000)
        balance = await r.conn.call(r.client.fetch_balance)
        assert balance["BTC"] == 2


async def test_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=3, cooldown_s=10), clock=lambda: now[0])
    async with rig(breaker=breaker, retry=RetryPolicy(max_attempts=1)) as r:
        rid = await r.ctl.add_fault(kind="server_error", path="/api/v3/time")
        for _ in range(3):
            with pytest.raises(ExchangeUnavailable):
                await r.conn.call(r.client.fetch_time)
        assert breaker.state is BreakerState.OPEN
        before = r.sim.requests
        with pytest.raises(CircuitOpen):
            await r.conn.call(r.client.fetch_time)
        assert r.sim.requests == before  # open: nothing sent
        now[0] += 11
        assert breaker.state is BreakerState.HALF_OPEN
        with pytest.raises(ExchangeUnavailable):  # a failing probe re-opens
            await r.conn.call(r.client.fetch_time)
        assert breaker.state is BreakerState.OPEN
        await r.ctl.clear_faults(rid)
        now[0] += 11
        await r.conn.call(r.client.fetch_time)
        await r.conn.call(r.client.fetch_time)
        assert breaker.state is BreakerState.CLOSED
        assert [t[1] for t in breaker.transitions] == ["open", "half_open", "open", "half_open", "closed"]


async def test_rejects_lower_health_score_but_do_not_count_as_outages() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=2, min_health=0.1))
    async with rig(breaker=breaker) as r:
        for k in range(3):
            with pytest.raises(InsufficientFunds):
                await r.conn.submit(
                    intent(f"big{k}", symbol="ETH/BTC", side=Side.SELL, qty="50", price="0.1")
                )
        assert breaker.health < 1.0 and breaker.state is BreakerState.CLOSED


async def test_p99_over_bound_degrades_the_connector_and_histogram_is_exported() -> None:
    registry = CollectorRegistry()
    cfg = sample_config(latency=LatencyModel(base_ms=25))
    tracker = LatencyTracker("sim", registry, p99_bound_s=0.01, min_samples=3)
    async with rig(cfg, latency=tracker, retry=FAST_RETRY) as r:
        for k in range(3):
            await r.conn.submit(intent(f"l{k}"))
        assert tracker.p99 is not None and tracker.p99 >= 0.025
        assert r.conn.breaker.state is BreakerState.OPEN
        assert "p99" in r.conn.breaker.transitions[-1][2]
        count = registry.get_sample_value(
            "quantops_venue_request_seconds_count", {"venue": "sim", "op": "submit"}
        )
        assert count == 3


async def test_stale_book_on_the_venue_blocks_the_order() -> None:
    async with rig(config=ConnectorConfig(warmup_heartbeats=1, book_max_age_ms=200)) as r:
        await r.ctl.add_fault(kind="stale_book")
        await asyncio.sleep(0.05)
        await r.conn.submit(intent("fresh"))  # frozen but still young: allowed
        await asyncio.sleep(0.3)
        with pytest.raises(InvalidOrder, match="stale"):
            await r.conn.submit(intent("late"))
        assert [o.client_id for o in r.sim.engine.orders.values()] == [r.conn.client_id_for(intent("fresh"))]
