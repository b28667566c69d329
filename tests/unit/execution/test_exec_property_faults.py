"""Property: under any random fault schedule, no intent creates two orders and no fill is lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

from exec_support import intent, make_connector
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantops_trading.execution.breaker import BreakerConfig, CircuitBreaker
from quantops_trading.execution.connector import VenueConnector
from quantops_trading.execution.errors import CircuitOpen, TradingError
from quantops_trading.execution.reconcile import Ledger, reconcile
from quantops_trading.execution.retry import RetryPolicy
from quantops_trading.venue.config import FaultRule
from quantops_trading.venue.testing import running_venue

T = TypeVar("T")

faults = st.builds(
    FaultRule,
    kind=st.sampled_from(
        ["server_error", "drop_connection", "drop_after_accept", "timeout", "rate_limit", "slow_ack"]
    ),
    path=st.sampled_from(["/api/v3/order", "/api/v3/depth", "/api/v3/myTrades", ""]),
    rate=st.sampled_from([1.0, 0.5]),
    after_requests=st.integers(0, 4),
    count=st.integers(1, 3),
    delay_s=st.just(0.4),
    retry_after_s=st.just(0),
)
orders = st.lists(
    st.tuples(st.sampled_from(["0.01", "0.02", "0.5"]), st.sampled_from([None, "60000", "62500"])),
    min_size=1,
    max_size=3,
)


async def _when_closed(conn: VenueConnector, call: Callable[[], Awaitable[T]]) -> T:
    """Wait out an open breaker (its cool-down is short here), as a supervisor loop would."""
    for _ in range(50):
        try:
            return await call()
        except CircuitOpen:
            await asyncio.sleep(0.03)
    return await call()


async def _scenario(schedule: list[FaultRule], plan: list[tuple[str, str | None]]) -> None:
    async with running_venue() as sim:
        conn, client = make_connector(
            sim.url,
            "sim",
            timeout_ms=300,
            retry=RetryPolicy(max_attempts=8, base_delay=0.001, max_delay=0.01),
            breaker=CircuitBreaker(BreakerConfig(cooldown_s=0.02, half_open_probes=1)),
        )
        try:
            await conn.start()
            for rule in schedule:
                sim.faults.add(rule)
            ledger = Ledger()
            intents = [intent(f"p{k}", qty=q, price=p) for k, (q, p) in enumerate(plan)]
            for it in intents:
                # Giving up is allowed: the order may or may not exist — reconciliation must tell.
                with contextlib.suppress(TradingError):
                    ledger.record_order(await conn.submit(it))
                with contextlib.suppress(TradingError):
                    await reconcile(conn, ledger, ["BTC/USDT"])
            sim.faults.remove()
            if any(r.kind in ("timeout", "slow_ack") for r in schedule):
                await asyncio.sleep(0.45)  # let held requests finish on the venue
            for it in intents:  # the strategy re-drives every intent after recovery
                ledger.record_order(await _when_closed(conn, lambda it=it: conn.submit(it)))
            await _when_closed(conn, lambda: reconcile(conn, ledger, ["BTC/USDT"]))
            second = await reconcile(conn, ledger, ["BTC/USDT"])

            venue: dict[str, Any] = {}
            for o in sim.engine.orders.values():
                assert o.client_id not in venue, f"duplicate order for {o.client_id}"
                venue[o.client_id] = o
            assert set(venue) == {conn.client_id_for(it) for it in intents}
            for o in venue.values():  # no lost fill, no double count
                assert ledger.filled(str(o.order_id)) == o.executed
            assert second.new_fills == [] and second.mismatches == []
            venue_fills = sum((f.qty for o in venue.values() for f in o.fills), Decimal(0))
            assert sum((f.quantity for f in ledger.fills.values()), Decimal(0)) == venue_fills
        finally:
            await client.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=st.lists(faults, max_size=3), plan=orders)
def test_no_duplicate_order_and_no_lost_fill_under_random_faults(
    schedule: list[FaultRule], plan: list[tuple[str, str | None]]
) -> None:
    asyncio.run(_scenario(schedule, plan))
