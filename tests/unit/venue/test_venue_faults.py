"""Each injected fault produces the HTTP shape that makes the real ccxt client raise its real class."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import ccxt
import pytest

from quantops_trading.adapters.ccxt import make_binance
from quantops_trading.venue.config import FaultRule
from quantops_trading.venue.faults import FaultInjector
from quantops_trading.venue.server import VenueServer
from quantops_trading.venue.testing import API_KEY, API_SECRET, SimControl, running_venue, sample_config


@pytest.fixture
async def sim() -> AsyncIterator[VenueServer]:
    async with running_venue() as server:
        yield server


@pytest.fixture
async def ex(sim: VenueServer) -> AsyncIterator[Any]:
    exchange = make_binance(sim.url, API_KEY, API_SECRET, timeout_ms=400)
    try:
        await exchange.load_markets()
        yield exchange
    finally:
        await exchange.close()


@pytest.mark.parametrize(
    ("rule", "exc"),
    [
        ({"kind": "rate_limit", "retry_after_s": 7}, ccxt.DDoSProtection),
        ({"kind": "ban", "retry_after_s": 60}, ccxt.DDoSProtection),
        ({"kind": "server_error", "status": 502}, ccxt.ExchangeNotAvailable),
        ({"kind": "server_error", "status": 503}, ccxt.ExchangeNotAvailable),
        ({"kind": "maintenance"}, ccxt.OnMaintenance),
        ({"kind": "timeout", "delay_s": 1.0}, ccxt.RequestTimeout),
        ({"kind": "drop_connection"}, ccxt.ExchangeNotAvailable),
    ],
)
async def test_fault_maps_to_ccxt_class(ex: Any, sim: VenueServer, rule: dict[str, Any], exc: type) -> None:
    ctl = SimControl(sim.url)
    rid = await ctl.add_fault(path="/api/v3/ticker", **rule)
    with pytest.raises(exc):
        await ex.fetch_ticker("BTC/USDT")
    await ctl.clear_faults(rid)
    assert (await ex.fetch_ticker("BTC/USDT"))["bid"] > 0  # fault removed: the next call is clean


async def test_rate_limit_carries_retry_after_header(ex: Any, sim: VenueServer) -> None:
    await SimControl(sim.url).add_fault(kind="rate_limit", retry_after_s=7, count=1)
    with pytest.raises(ccxt.DDoSProtection):
        await ex.fetch_time()
    assert ex.last_response_headers["Retry-After"] == "7"


async def test_drop_after_accept_places_the_order_but_loses_the_answer(ex: Any, sim: VenueServer) -> None:
    await SimControl(sim.url).add_fault(
        kind="drop_after_accept", path="/api/v3/order", method="POST", count=1
    )
    with pytest.raises(ccxt.NetworkError):
        await ex.create_order("BTC/USDT", "limit", "buy", "0.01", "60000", {"newClientOrderId": "lost-ack"})
    state = await SimControl(sim.url).state()
    assert [o["clientOrderId"] for o in state["orders"]] == ["lost-ack"]


async def test_clock_skew_is_rejected_as_invalid_nonce_then_resync_works(ex: Any, sim: VenueServer) -> None:
    await SimControl(sim.url).add_fault(kind="clock_skew", skew_ms=-30_000)
    with pytest.raises(ccxt.InvalidNonce):
        await ex.fetch_balance()
    await ex.load_time_difference()
    assert (await ex.fetch_balance())["free"]["BTC"] == 2


async def test_stale_book_freezes_book_and_timestamp(ex: Any, sim: VenueServer) -> None:
    ctl = SimControl(sim.url)
    await ctl.add_fault(kind="stale_book")
    first = await ex.fetch_order_book("BTC/USDT")
    await ctl.step(120_000)
    second = await ex.fetch_order_book("BTC/USDT")
    assert second["nonce"] == first["nonce"] and second["timestamp"] == first["timestamp"]
    await ctl.clear_faults()
    assert (await ex.fetch_order_book("BTC/USDT"))["nonce"] != first["nonce"]


def test_fault_schedule_is_deterministic_under_seed() -> None:
    rules = [
        FaultRule(kind="server_error", rate=0.3),
        FaultRule(kind="rate_limit", after_requests=5, count=2),
    ]

    def run() -> list[str | None]:
        inj = FaultInjector(rules, seed=11)
        return [(f.kind if (f := inj.decide("GET", "/api/v3/time")) else None) for _ in range(40)]

    a, b = run(), run()
    assert a == b
    assert a.count("rate_limit") == 2 and 0 < a.count("server_error") < 20
    assert "rate_limit" not in a[:5]


async def test_faults_from_config_file_apply_from_the_start() -> None:
    cfg = sample_config(faults=[FaultRule(kind="maintenance", path="/api/v3/exchangeInfo")])
    async with running_venue(cfg) as sim:
        ex = make_binance(sim.url, API_KEY, API_SECRET)
        try:
            with pytest.raises(ccxt.OnMaintenance):
                await ex.load_markets()
        finally:
            await ex.close()
