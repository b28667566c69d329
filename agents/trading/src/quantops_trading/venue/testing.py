"""Helpers to run simulated venues in-process for tests, benchmarks and demos (no pytest import).

Why it exists: unit tests of the venue and of the execution layer, and the benchmarks, all need
"a real simulator on 127.0.0.1 with a funded account and a real ccxt client pointed at it". One
implementation here keeps them consistent. :class:`SimControl` drives the HTTP control API
(``/_sim/*``) exactly as an operator or another process would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp

from quantops_trading.venue.config import ApiKey, SymbolConfig, VenueConfig
from quantops_trading.venue.server import VenueServer

__all__ = ["API_KEY", "API_SECRET", "SimControl", "running_venue", "sample_config"]

API_KEY = "test-key"
API_SECRET = "test-secret"

BTC_USDT = SymbolConfig(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    book_file="orderbook/binance-spot_BTC-USDT_L2top20_20240808-09_reconstructed.csv.gz",
    trades_file="trades/binance-spot_BTC-USDT_trades_20240808-09.csv.gz",
)
ETH_BTC = SymbolConfig(
    symbol="ETH/BTC",
    base="ETH",
    quote="BTC",
    candle_file="candles/bittrex_ETH-BTC_1m_2018-01-20_2018-01-30.csv.gz",
    tick_size=Decimal("0.000001"),
    step_size=Decimal("0.001"),
    min_qty=Decimal("0.001"),
    min_notional=Decimal("0.0001"),
)


def sample_config(**overrides: Any) -> VenueConfig:
    """BTC/USDT on the real L2 book, ETH/BTC on a candle-built book, one funded account."""
    base: dict[str, Any] = {
        "name": "sim",
        "symbols": [BTC_USDT, ETH_BTC],
        "api_keys": [
            ApiKey(
                key=API_KEY,
                secret=API_SECRET,
                balances={"USDT": Decimal(1_000_000), "BTC": Decimal(2), "ETH": Decimal(10)},
            )
        ],
    }
    base.update(overrides)
    return VenueConfig(**base)


@asynccontextmanager
async def running_venue(cfg: VenueConfig | None = None) -> AsyncIterator[VenueServer]:
    """A started :class:`VenueServer` on 127.0.0.1 (ephemeral port), stopped on exit."""
    server = VenueServer(cfg or sample_config())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class SimControl:
    """Client of the control API: faults, replay steps, state. ``token``: the venue's
    ``controlToken`` (under `quantops up`, ``quantops_local.auth.sim_token`` of the run token)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def _req(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession(headers=self.headers) as s,
            s.request(method, self.base_url + path, json=body) as r,
        ):
            r.raise_for_status()
            return await r.json()

    async def add_fault(self, **rule: Any) -> int:
        return int((await self._req("POST", "/_sim/faults", rule))["id"])

    async def clear_faults(self, rule_id: int | None = None) -> None:
        await self._req("DELETE", "/_sim/faults" + (f"/{rule_id}" if rule_id is not None else ""))

    async def step(self, ms: int) -> dict[str, Any]:
        out: dict[str, Any] = await self._req("POST", "/_sim/step", {"ms": ms})
        return out

    async def state(self) -> dict[str, Any]:
        out: dict[str, Any] = await self._req("GET", "/_sim/state")
        return out
