"""A TraderWork trading in-process against a real venue simulator over HTTP (the real ccxt client).

Shared by the tests of the trader's live loop (test_trader_risk.py, test_trader_lost_answers.py):
the real EventLogs under a temporary state dir; the agent's gates driven exactly as the gate watch
drives them (``rt.gates.update`` + ``_apply_gate``); the control-plane transport itself is not
under test here and never called.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from quantops_trading.adapters.ccxt.credentials import API_KEY_ENV, SECRET_ENV
from quantops_trading.runtime.agent import AgentRuntime
from quantops_trading.runtime.control import LocalControl
from quantops_trading.runtime.trader_role import TraderWork
from quantops_trading.storage.eventlog import EventLog
from quantops_trading.venue.server import VenueServer
from quantops_trading.venue.testing import API_KEY, API_SECRET, SimControl, running_venue, sample_config

SYMBOL = "BTC/USDT"
MOMO = {
    "entrypoint": "quantops_trading.strategies.momentum:Momentum",
    "params": {"fast": 2, "slow": 3, "threshold": 0},
    "pairs": [SYMBOL],
}
PERMISSIVE = {
    "maxTradesPerMinute": 600,
    "maxOrdersPerMinute": 1200,
    "maxCancelToFillRatio": 1000,
    "maxConsecutiveLosses": 1000,
    "maxDrawdown": 0.9,
    "concentrationCap": 1.0,
}


@dataclass
class Live:
    rt: AgentRuntime
    work: TraderWork
    venue: VenueServer
    sim: SimControl
    state: Path
    task: asyncio.Task[None] | None = None
    crashed: bool = False

    @property
    def position(self) -> Decimal:
        assert self.work.gateway is not None
        return self.work.gateway.book.position("momo", SYMBOL)

    @property
    def flat(self) -> bool:
        """No position the venue would take an order for: covering a short with a buy leaves the
        buy's fee (the venue takes it in BTC) short — dust below the minimum order, as on Binance."""
        assert self.work.gateway is not None
        rules, pos = self.work.markets[SYMBOL], abs(self.position)
        return pos < rules.min_qty or pos * self.work.gateway.book.mark(SYMBOL) < rules.min_notional

    async def gate(self, gate: str) -> None:
        """What the gate watch does on a new snapshot."""
        self.rt.gates.update({"Agent/trader": gate})
        await self.rt._apply_gate()

    def risk_events(self) -> list[dict[str, Any]]:
        with EventLog(self.state / "eventlogs" / "risk.sqlite") as log:
            return [{"kind": e.kind, **e.data()} for e in log.entries()]

    async def crash(self) -> None:
        """The trader process dies: no cancel, no last sync, no flush; files closed as the OS would."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        for log in self.work.logs.values():
            log.close()
        if self.work.risk_log is not None:
            self.work.risk_log.close()
        if self.work.client is not None:
            await self.work.client.close()
        self.crashed = True

    def strategy_events(self) -> list[dict[str, Any]]:
        with EventLog(self.state / "eventlogs" / "momo.sqlite") as log:
            return [{"kind": e.kind, **e.data()} for e in log.entries()]

    async def ticks_pass(self, n: int) -> None:
        """Wait until the trader has run ``n`` more ticks (decisions it could have acted on)."""
        start = self.work.ticks
        await until(lambda: self.work.ticks >= start + n, 60, f"{n} more ticks")

    def sent_since_restart(self) -> list[dict[str, Any]]:
        """The orders momo's log shows submitted since the latest start's ``positions_restored``."""
        events = self.strategy_events()
        start = max(i for i, e in enumerate(events) if e["kind"] == "positions_restored")
        return [e["order"] for e in events[start:] if e["kind"] == "order_submitted"]


async def until(pred: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


def trader_runtime(
    venue_url: str,
    config: dict[str, Any],
    *,
    policy: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    gate: str = "GO",
    clock: Callable[[], float] = time.time,
    others: dict[str, dict[str, Any]] | None = None,
) -> tuple[TraderWork, AgentRuntime]:
    """A trader of ``momo`` (and ``others``: name → Strategy spec), all HOT, on ``venue_url`` with the
    permissive global policy, and the agent runtime around it; its gates are driven as the gate
    watch drives them (control never called)."""
    specs = {"momo": {**MOMO, "params": {**MOMO["params"], **(params or {})}}, **(others or {})}
    work = TraderWork(
        {
            "venueUrl": venue_url,
            "venueName": "sim",
            "notionalPerStrategy": 2000,
            "expectedEdgeBps": 5000,
            **config,
        },
        {
            "strategySpecs": specs,
            "riskPolicies": {"global": {**PERMISSIVE, **(policy or {})}},
        },
        clock=clock,
        environ={API_KEY_ENV: API_KEY, SECRET_ENV: API_SECRET},  # as the exchange Secret's env
    )
    rt = AgentRuntime(
        name="trader",
        role="trader",
        control=LocalControl("http://127.0.0.1:9", "trader", "0"),  # never called here
        work=work,
        api_loss_grace_seconds=1e9,
    )
    # A HOT strategy trades live; the gate watch would carry this with the gates (stages).
    rt.gates.update({"Agent/trader": gate}, {n: {"stage": "HOT", "desiredStage": "HOT"} for n in specs})
    return work, rt


@contextlib.asynccontextmanager
async def live_trader(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    policy: dict[str, Any],
    config: dict[str, Any],
    gate: str = "GO",
    venue: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    server: VenueServer | None = None,
) -> AsyncIterator[Live]:
    """A trader on a new venue (or on ``server``: a restart, the state dir kept)."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=server is not None)
    monkeypatch.setenv("QUANTOPS_STATE_DIR", str(state))
    venue_cm = (
        contextlib.nullcontext(server)
        if server is not None
        else running_venue(sample_config(speed=30.0, **(venue or {})))
    )
    async with venue_cm as server:
        assert server.url is not None
        work, rt = trader_runtime(
            server.url,
            {"pollSeconds": 0.2, "snapshotSeconds": 1, **config},
            policy=policy,
            params=params,
            gate=gate,
        )
        task = asyncio.create_task(work.run(rt))
        live = Live(rt, work, server, SimControl(server.url), state, task)
        try:
            await until(lambda: work.state == "trading" or work.state.startswith("halted"), 30, "trader up")
            await rt._apply_gate()
            yield live
        finally:
            if not live.crashed:
                rt.stopping.set()
                await work.cancel_working_orders()
                await asyncio.wait_for(task, 30)
                await work.flush()
            await rt.control.close()


LADDER = [
    {"style": "passive", "afterSeconds": 0, "maxFraction": 0.5},
    {"style": "aggressive", "afterSeconds": 1, "maxFraction": 0.5},
    {"style": "market", "afterSeconds": 2, "maxFraction": 1.0},
]


async def stop_with_position(
    live: Live, before_stop: Callable[[], Awaitable[object]] | None = None
) -> tuple[Decimal, set[str]]:
    """Wait for an open position, then STOP while holding the trading lock (no tick in between).

    ``before_stop`` runs in that quiet moment (a fault to install, say). Returns the position and
    the venue's order ids before the STOP."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        await until(lambda: live.position != 0 and not live.work.working, 40, "an open position")
        async with live.work.lock:
            await live.work._sync()  # every fill so far is booked; nothing is sent while we hold this
            if live.position == 0 or live.work.working:
                continue
            pos = live.position
            before = {o["clientOrderId"] for o in (await live.sim.state())["orders"]}
            if before_stop is not None:
                await before_stop()
            live.rt.gates.update({"Agent/trader": "STOP"})
        await live.rt._apply_gate()
        return pos, before
    raise AssertionError("no quiet moment with an open position")
