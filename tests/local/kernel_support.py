"""The trader's kernel driven tick by tick on an injected clock (deterministic, no wall-time polls).

The venue simulator runs at speed 0 (its replay moves only when stepped) and serves the real ccxt
client over HTTP on loopback; the trader gets a :class:`FakeClock` for every decision it times
(order ages, reprices, TTLs, cool-downs, snapshots, rebalances, ladders). ``Kernel.tick`` advances
both by the same amount and runs exactly one ``TraderWork.step`` — so a test says "after N seconds
of market" and gets the same decisions on every run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from trader_support import SYMBOL, trader_runtime

from quantops_trading.runtime.agent import AgentRuntime
from quantops_trading.runtime.trader_role import TraderWork
from quantops_trading.storage.eventlog import EventLog
from quantops_trading.venue.server import VenueServer
from quantops_trading.venue.testing import running_venue, sample_config


class FakeClock:
    """Seconds, starting at the real epoch (records written with wall time stay comparable)."""

    def __init__(self) -> None:
        self.t = float(int(time.time()))

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Kernel:
    rt: AgentRuntime
    work: TraderWork
    venue: VenueServer
    clock: FakeClock
    state: Path
    factory: Callable[[], tuple[TraderWork, AgentRuntime]]
    ticks: int = 0

    async def tick(self, ms: int = 1000) -> None:
        """``ms`` of market, then one trader step at the new time."""
        self.venue.clock.step(ms)
        self.venue.engine.match_resting()
        self.clock.advance(ms / 1000)
        await self.work.step(self.rt)
        self.ticks += 1

    async def restart(self) -> None:
        """The trader stops as on SIGTERM and a new one starts on the same state dir and venue
        (what the supervisor or the kubelet does after a crash, less the lost last seconds)."""
        await _stop(self.work, self.rt)
        self.work, self.rt = self.factory()
        assert await self.work.start(self.rt), self.work.state
        await self.rt._apply_gate()

    async def gate(self, gate: str) -> None:
        self.rt.gates.update({"Agent/trader": gate})
        await self.rt._apply_gate()

    @property
    def position(self) -> Decimal:
        assert self.work.gateway is not None
        return self.work.gateway.book.position("momo", SYMBOL)

    def events(self, log: str = "momo") -> list[dict[str, Any]]:
        with EventLog(self.state / "eventlogs" / f"{log}.sqlite") as ev:
            return [{"kind": e.kind, **e.data()} for e in ev.entries()]


@contextlib.asynccontextmanager
async def kernel(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    policy: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    venue: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    gate: str = "GO",
    others: dict[str, dict[str, Any]] | None = None,
) -> AsyncIterator[Kernel]:
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("QUANTOPS_STATE_DIR", str(state))
    clock = FakeClock()
    async with running_venue(sample_config(speed=0.0, **(venue or {}))) as server:
        assert server.url is not None
        url = server.url

        def factory() -> tuple[TraderWork, AgentRuntime]:
            return trader_runtime(
                url, config or {}, policy=policy, params=params, gate=gate, clock=clock, others=others
            )

        work, rt = factory()
        k = Kernel(rt, work, server, clock, state, factory)
        try:
            assert await work.start(rt), work.state
            await rt._apply_gate()
            yield k
        finally:
            await _stop(k.work, k.rt, cancel=True)


async def _stop(work: TraderWork, rt: AgentRuntime, *, cancel: bool = False) -> None:
    rt.stopping.set()
    if cancel:
        await work.cancel_working_orders()
    await work.flush()
    await rt.control.close()
