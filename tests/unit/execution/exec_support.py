"""Shared set-up for execution tests: a real simulator + the real ccxt client + a VenueConnector."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

from prometheus_client import CollectorRegistry

from quantops_trading.adapters.ccxt import CcxtExecutionClient, make_binance
from quantops_trading.execution.breaker import CircuitBreaker
from quantops_trading.execution.connector import ConnectorConfig, VenueConnector
from quantops_trading.execution.latency import LatencyTracker
from quantops_trading.execution.retry import RetryPolicy
from quantops_trading.execution.types import OrderIntent, OrderType, Side
from quantops_trading.venue.config import VenueConfig
from quantops_trading.venue.server import VenueServer
from quantops_trading.venue.testing import API_KEY, API_SECRET, SimControl, running_venue

FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.001, max_delay=0.02)


@dataclass
class Rig:
    sim: VenueServer
    ctl: SimControl
    conn: VenueConnector
    client: CcxtExecutionClient
    registry: CollectorRegistry


def make_connector(
    url: str,
    venue: str,
    *,
    registry: CollectorRegistry | None = None,
    breaker: CircuitBreaker | None = None,
    retry: RetryPolicy = FAST_RETRY,
    config: ConnectorConfig | None = None,
    latency: LatencyTracker | None = None,
    timeout_ms: int = 1000,
) -> tuple[VenueConnector, CcxtExecutionClient]:
    client = CcxtExecutionClient(make_binance(url, API_KEY, API_SECRET, timeout_ms=timeout_ms), venue)
    conn = VenueConnector(
        client,
        config=config or ConnectorConfig(warmup_heartbeats=2, warmup_interval_s=0.0),
        breaker=breaker,
        retry=retry,
        latency=latency or LatencyTracker(venue, registry or CollectorRegistry()),
    )
    return conn, client


@asynccontextmanager
async def rig(cfg: VenueConfig | None = None, *, start: bool = True, **kwargs: object) -> AsyncIterator[Rig]:
    registry = CollectorRegistry()
    async with running_venue(cfg) as sim:
        conn, client = make_connector(sim.url, sim.cfg.name, registry=registry, **kwargs)  # type: ignore[arg-type]
        try:
            if start:
                await conn.start()
            yield Rig(sim, SimControl(sim.url), conn, client, registry)
        finally:
            await client.close()


def intent(
    intent_id: str = "i1",
    *,
    side: Side = Side.BUY,
    qty: str = "0.01",
    price: str | None = "60000",
    symbol: str = "BTC/USDT",
    **kw: object,
) -> OrderIntent:
    return OrderIntent(
        strategy_id="s1",
        intent_id=intent_id,
        symbol=symbol,
        side=side,
        type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        quantity=Decimal(qty),
        price=Decimal(price) if price is not None else None,
        **kw,
    )


def venue_orders(sim: VenueServer, client_id: str) -> int:
    return sum(1 for o in sim.engine.orders.values() if o.client_id == client_id)
