"""The live feed's health inputs from real calls: a real ccxt client, a real resolver, real failures."""

from __future__ import annotations

import pytest

from quantops_api import Gate
from quantops_trading.adapters.ccxt import CcxtExecutionClient, make_binance
from quantops_trading.execution.breaker import BreakerConfig
from quantops_trading.execution.errors import ExchangeUnavailable
from quantops_trading.risk.health import HealthThresholds, health_actions
from quantops_trading.risk.livefeed import MonitoredClient, VenueHealth, is_dns_failure
from quantops_trading.venue.testing import API_KEY, API_SECRET, running_venue


async def test_61_dns_failures_of_real_calls_pause_the_venue_and_a_success_clears_them() -> None:
    # `.invalid` never resolves (RFC 6761): the system resolver fails locally, no network needed.
    bad = CcxtExecutionClient(make_binance("http://venue-sim.invalid:9", API_KEY, API_SECRET), "sim")
    health = VenueHealth("sim", HealthThresholds(max_dns_failures=2), BreakerConfig(failure_threshold=10))
    client = MonitoredClient(bad, health)
    try:
        for _ in range(2):
            with pytest.raises(ExchangeUnavailable) as err:
                await client.fetch_order_book("BTC/USDT")
            assert is_dns_failure(err.value)
    finally:
        await client.close()
    assert health.dns_failures == 2 and health.failures == 2
    acts = {a.switch: a for a in health_actions(health.snapshot(), health.thresholds)}
    assert acts["dns"].gate is Gate.PAUSE and "2 DNS failures" in acts["dns"].reason
    assert acts["connector_circuit"].gate is None  # 2 failures < breaker threshold 10

    async with running_venue() as server:
        assert server.url is not None
        good = CcxtExecutionClient(make_binance(server.url, API_KEY, API_SECRET), "sim")
        client = MonitoredClient(good, health)
        try:
            await client.load_markets()
            book = await client.fetch_order_book("BTC/USDT")
        finally:
            await client.close()
    assert book.bids and health.dns_failures == 0  # resolution works again: the count resets
    snap = health.snapshot()
    assert snap.telemetry_age_s is not None and snap.telemetry_age_s < 60
    acts = {a.switch: a for a in health_actions(snap, health.thresholds)}
    assert acts["dns"].gate is None


async def test_61_a_refused_connection_is_not_a_dns_failure_but_opens_the_breaker() -> None:
    refused = CcxtExecutionClient(make_binance("http://127.0.0.1:9", API_KEY, API_SECRET), "sim")
    health = VenueHealth("sim", breaker_config=BreakerConfig(failure_threshold=2, cooldown_s=60))
    client = MonitoredClient(refused, health)
    try:
        for _ in range(2):
            with pytest.raises(ExchangeUnavailable) as err:
                await client.fetch_balance()
            assert not is_dns_failure(err.value)
    finally:
        await client.close()
    snap = health.snapshot()
    assert snap.breaker_open and snap.dns_failures == 0
    acts = {a.switch: a.gate for a in health_actions(snap)}
    assert acts == {
        "connector_circuit": Gate.PAUSE,
        "dns": None,
        "telemetry_starvation": None,
        "latency_p99": None,
    }
