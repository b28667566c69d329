"""The trader runs each strategy at its stage: COLD nothing, WARM paper (CHECK), HOT live.

Real components: the venue simulator over HTTP with the real ccxt client, the real EventLogs, and
the real local supervisor HTTP app (``/api/gates`` long-poll with stages, ``/api/strategies`` and
the status write endpoint the pipeline uses) reached by the real :class:`LocalControl` gate watch.
The supervisor is served in-process (its agent processes are not started): the trader runs
in-process so the test can read its counters; everything between them is HTTP.

Also here: keys only in ``$QUANTOPS_EXCHANGE_API_KEY/_SECRET`` trade (the operator injects them from
a Secret), and every live order's ``OrderSubmitted.lineage`` carries the strategy's code hash and
params fingerprint (roadmap 30), read back from the hash-chained event log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from supervisor_support import person, serve

from quantops_local.auth import agent_token
from quantops_local.manifests import load
from quantops_local.supervisor import Supervisor
from quantops_trading.adapters.ccxt.credentials import API_KEY_ENV, CREDENTIALS_DIR_ENV, SECRET_ENV
from quantops_trading.pipeline.fingerprint import code_fingerprint, spec_fingerprint
from quantops_trading.runtime.agent import AgentRuntime
from quantops_trading.runtime.control import LocalControl
from quantops_trading.runtime.gatestate import resolve_stage
from quantops_trading.runtime.trader_role import TraderWork
from quantops_trading.storage.eventlog import EventLog
from quantops_trading.venue.server import VenueServer
from quantops_trading.venue.testing import API_KEY, API_SECRET, SimControl, running_venue, sample_config

SYMBOL = "BTC/USDT"
ENTRYPOINT = "quantops_trading.strategies.momentum:Momentum"
PARAMS = {"fast": 2, "slow": 3, "threshold": 0}
PERMISSIVE = {
    "maxTradesPerMinute": 600,
    "maxOrdersPerMinute": 1200,
    "maxCancelToFillRatio": 1000,
    "maxConsecutiveLosses": 1000,
    "maxDrawdown": 0.9,
    "concentrationCap": 1.0,
}


def manifest(stage: str | None, desired: str) -> str:
    status = f"status: {{stage: {stage}}}\n" if stage else ""
    return f"""
apiVersion: quantops.dev/v1alpha1
kind: RiskPolicy
metadata: {{name: global}}
spec: {json.dumps({"gate": "GO", **PERMISSIVE})}
---
apiVersion: quantops.dev/v1alpha1
kind: Strategy
metadata: {{name: momo}}
spec:
  entrypoint: "{ENTRYPOINT}"
  params: {json.dumps(PARAMS)}
  pairs: [{SYMBOL}]
  desiredStage: {desired}
{status}---
apiVersion: quantops.dev/v1alpha1
kind: Agent
metadata: {{name: trader}}
spec:
  role: trader
  strategies: [momo]
"""


@dataclass
class Live:
    rt: AgentRuntime
    work: TraderWork
    venue: VenueServer
    sim: SimControl
    state: Path
    control_url: str
    control_auth: dict[str, str]  # the supervisor's run token (a person; no pipeline agent here)

    async def venue_orders(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = (await self.sim.state())["orders"]
        return orders

    def events(self) -> list[dict[str, Any]]:
        with EventLog(self.state / "eventlogs" / "momo.sqlite") as log:  # verifies the chain on open
            return [{"kind": e.kind, **e.data()} for e in log.entries()]

    def audit(self) -> list[dict[str, Any]]:
        path = self.state / "audit.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]

    async def set_stage(self, stage: str) -> None:
        """What the pipeline agent does under `quantops up` (LocalStrategyStatus.write_status)."""
        async with httpx.AsyncClient(headers=self.control_auth) as http:
            r = await http.post(
                f"{self.control_url}/api/strategies/momo/status",
                json={"patch": {"stage": stage}, "who": "test-pipeline"},
            )
            r.raise_for_status()


async def until(pred: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


@contextlib.asynccontextmanager
async def live_trader(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    stage: str | None,
    desired: str = "HOT",
    keys: dict[str, str] | None = None,
) -> AsyncIterator[Live]:
    """``keys``: the trader's environment for its exchange keys (None: the exchange Secret's env
    with the venue's test account; {}: the process environment)."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)  # a second trader on the same state: a restart
    monkeypatch.setenv("QUANTOPS_STATE_DIR", str(state))
    (tmp_path / "platform.yaml").write_text(manifest(stage, desired))
    sup = Supervisor(load([tmp_path / "platform.yaml"]), state)
    runner, control_url = await serve(sup)
    async with running_venue(sample_config(speed=30.0)) as server:
        assert server.url is not None
        work = TraderWork(
            {
                "venueUrl": server.url,
                "venueName": "sim",
                "pollSeconds": 0.2,
                "notionalPerStrategy": 2000,
                "expectedEdgeBps": 5000,
                "snapshotSeconds": 1,
            },
            {
                "strategySpecs": {
                    "momo": {
                        "entrypoint": ENTRYPOINT,
                        "params": PARAMS,
                        "pairs": [SYMBOL],
                        "desiredStage": desired,
                    }
                },
                "riskPolicies": {"global": PERMISSIVE},
            },
            environ={API_KEY_ENV: API_KEY, SECRET_ENV: API_SECRET} if keys is None else None,
        )
        rt = AgentRuntime(
            name="trader",
            role="trader",
            control=LocalControl(control_url, "trader", "0", agent_token(sup.token, "trader")),
            work=work,
            api_loss_grace_seconds=1e9,
        )
        watch = asyncio.create_task(rt._gate_watch())  # the real long-poll against the supervisor
        await until(lambda: "momo" in rt.gates.stages, 20, "the first gate snapshot with stages")
        task = asyncio.create_task(work.run(rt))
        live = Live(rt, work, server, SimControl(server.url), state, control_url, person(sup))
        try:
            await until(lambda: work.state != "starting", 30, "trader started")
            yield live
        finally:
            rt.stopping.set()
            await work.cancel_working_orders()
            await asyncio.wait_for(task, 30)
            await work.flush()
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            await rt.control.close()
            await runner.cleanup()


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in events]


# -- the stage rule (pure) -----------------------------------------------------------------------
def test_unknown_stage_fails_closed_to_paper_and_desired_stage_caps() -> None:
    assert resolve_stage(None, "HOT")[0].value == "WARM"  # no pipeline verdict yet: never live
    assert "fail closed" in resolve_stage(None, "HOT")[1]
    assert resolve_stage(None, "COLD")[0].value == "COLD"  # the owner's ceiling still applies
    assert resolve_stage("HOT", "WARM")[0].value == "WARM"  # lowering desiredStage acts at once
    assert resolve_stage("HOT", "HOT")[0].value == "HOT"
    assert resolve_stage("WARM", "HOT")[0].value == "WARM"
    assert resolve_stage("bogus", "HOT")[0].value == "WARM"
    assert resolve_stage("HOT", "bogus")[0].value == "COLD"


# -- COLD / WARM / HOT against the venue ----------------------------------------------------------
async def test_cold_strategy_is_not_run_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_trader(tmp_path, monkeypatch, stage="COLD") as live:
        await until(lambda: live.work.ticks >= 25, 60, "25 ticks")
        assert live.work.describe()["stages"] == {"momo": "COLD"}
        assert await live.venue_orders() == []
        assert live.work.counts["submitted"] == 0 and live.work.counts["paper"] == 0
        events = live.events()
        assert "order_submitted" not in kinds(events) and "risk_would_be_order" not in kinds(events)
        applied = [e for e in events if e["kind"] == "trader_stage_applied"]
        assert [(e["old"], e["new"]) for e in applied] == [(None, "COLD")]
        assert any(e["event"] == "StageApplied" and e["new"] == "COLD" for e in live.audit())


async def test_warm_records_paper_decisions_and_sends_nothing_to_the_venue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_trader(tmp_path, monkeypatch, stage="WARM") as live:
        await until(lambda: live.work.counts["paper"] >= 3, 60, "paper decisions")
        assert live.work.describe()["stages"] == {"momo": "WARM"}
        assert await live.venue_orders() == []  # the simulator never saw an order
        assert live.work.client is not None
        assert await live.work.client.fetch_open_orders(SYMBOL) == []  # and ccxt agrees
        assert await live.work.client.fetch_my_trades(SYMBOL) == []
        events = live.events()
        paper = [e for e in events if e["kind"] == "risk_would_be_order"]
        assert len(paper) >= 3 and all(e["strategy_id"] == "momo" for e in paper)
        assert "order_submitted" not in kinds(events)


async def test_warm_paper_trades_on_the_live_book_into_its_own_positions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The evidence the pipeline's envelope check (35) reads: paper fills and paper PnL snapshots."""
    async with live_trader(tmp_path, monkeypatch, stage="WARM") as live:
        await until(lambda: live.work.counts["paperFilled"] >= 2, 60, "paper fills")
        await until(
            lambda: any(e.get("paper") for e in live.events() if e["kind"] == "PnlSnapshot"), 30, "paper PnL"
        )
        assert await live.venue_orders() == []  # paper never reaches the venue
        assert live.work.gateway is not None and live.work.paper is not None
        assert live.work.gateway.book.holdings == {}  # no live position either
        events = live.events()
        fills = [e for e in events if e["kind"] == "paper_fill"]
        would_be = {e["intent_id"] for e in events if e["kind"] == "risk_would_be_order"}
        net = 0
        for f in fills:
            assert f["strategy_id"] == "momo" and f["liquidity"] == "taker"  # aggressive: at the best
            assert f["lineage"]["stage"] == "WARM"
            assert f["lineage"]["paramsFingerprint"] == spec_fingerprint(ENTRYPOINT, PARAMS)
            qty, px = float(f["quantity"]), float(f["price"])
            assert float(f["fee"]) == pytest.approx(qty * px * 0.001)  # the default 10 bps paper fee
            net += qty if f["side"] == "buy" else -qty
        assert len(would_be) >= len({f["client_order_id"] for f in fills})  # each fill had a decision
        assert float(live.work.paper.position("momo", SYMBOL)) == pytest.approx(net)
        assert live.work.describe()["orders"]["paperFilled"] == len(fills)


async def test_unknown_stage_trades_paper_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with live_trader(tmp_path, monkeypatch, stage=None) as live:
        await until(lambda: live.work.counts["paper"] >= 2, 60, "paper decisions")
        assert live.work.describe()["stages"] == {"momo": "WARM"}
        assert await live.venue_orders() == []
        applied = [e for e in live.events() if e["kind"] == "trader_stage_applied"]
        assert "fail closed" in applied[0]["reason"]


async def test_hot_sends_and_every_order_carries_its_fingerprints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_trader(tmp_path, monkeypatch, stage="HOT") as live:
        await until(lambda: live.work.counts["submitted"] >= 2, 60, "live orders")
        on_venue = {o["clientOrderId"] for o in await live.venue_orders()}
        submitted = [e for e in live.events() if e["kind"] == "order_submitted"]
        assert len(submitted) >= 2
        want = {
            "strategyHash": code_fingerprint(ENTRYPOINT, PARAMS),
            "paramsFingerprint": spec_fingerprint(ENTRYPOINT, PARAMS),
            "stage": "HOT",
        }
        for e in submitted:
            lineage = e["lineage"]
            assert {k: lineage[k] for k in want} == want
            assert lineage["clientOrderId"] in on_venue  # the event names the order the venue holds


async def test_keys_only_in_the_environment_trade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    monkeypatch.setenv(SECRET_ENV, API_SECRET)
    monkeypatch.delenv(CREDENTIALS_DIR_ENV, raising=False)
    async with live_trader(tmp_path, monkeypatch, stage="HOT", keys={}) as live:
        await until(lambda: live.work.counts["submitted"] >= 1, 60, "a live order")
        assert live.work.state == "trading"
        assert await live.venue_orders()


async def test_no_keys_anywhere_leaves_the_trader_idle_naming_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in (API_KEY_ENV, SECRET_ENV, CREDENTIALS_DIR_ENV):
        monkeypatch.delenv(var, raising=False)
    async with live_trader(tmp_path, monkeypatch, stage="HOT", keys={}) as live:
        assert live.work.state.startswith("idle: no exchange credentials")
        assert API_KEY_ENV in live.work.state and "exchangeSecret" in live.work.state
        assert await live.venue_orders() == []


# -- a live stage change through the supervisor's status endpoint ---------------------------------
async def test_live_stage_changes_via_the_supervisor_take_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_trader(tmp_path, monkeypatch, stage="WARM") as live:
        await until(lambda: live.work.counts["paper"] >= 1, 60, "paper decisions")
        assert await live.venue_orders() == []
        await live.set_stage("HOT")  # the pipeline promotes
        await until(lambda: str(live.work.describe()["stages"].get("momo")) == "HOT", 30, "HOT applied")
        await until(lambda: live.work.counts["submitted"] >= 1, 60, "a live order after the promotion")
        assert await live.venue_orders()
        await live.set_stage("COLD")  # the pipeline demotes
        await until(lambda: str(live.work.describe()["stages"].get("momo")) == "COLD", 30, "COLD applied")
        async with live.work.lock:  # no tick in between: what the venue holds right after COLD
            assert live.work.working == {}  # working orders were cancelled
            sent = live.work.counts["submitted"]
            n_venue = len(await live.venue_orders())
            open_ = await live.work.client.fetch_open_orders(SYMBOL) if live.work.client else None
            assert open_ == []
            ticks = live.work.ticks
        await until(lambda: live.work.ticks >= ticks + 15, 60, "15 ticks at COLD")
        assert live.work.counts["submitted"] == sent and len(await live.venue_orders()) == n_venue
        applied = [(e["old"], e["new"]) for e in live.events() if e["kind"] == "trader_stage_applied"]
        assert applied == [(None, "WARM"), ("WARM", "HOT"), ("HOT", "COLD")]
        audited = [(e["old"], e["new"]) for e in live.audit() if e["event"] == "StageApplied"]
        assert audited == applied
        status = [e for e in live.audit() if e["event"] == "StrategyStatusChanged"]
        assert [e["new"] for e in status] == ["HOT", "COLD"]  # the supervisor audited the writes too


# -- a restart resumes from the logged positions ------------------------------------------------------
async def test_a_restarted_trader_resumes_from_the_positions_in_its_event_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sizing is target − position: a trader restarted believing it was flat would buy it all again."""
    async with live_trader(tmp_path, monkeypatch, stage="HOT") as live:
        gw = live.work.gateway
        assert gw is not None
        await until(lambda: gw.book.position("momo", SYMBOL) != 0, 60, "a live position")
    logged = live.events()
    net = sum(  # a buy's fee is taken in BTC: the position is net of it
        (1 if e["fill"]["side"] == "buy" else -1) * float(e["fill"]["quantity"])
        - (float(e["fill"]["fee"]) if e["fill"]["fee_currency"] == "BTC" else 0.0)
        for e in logged
        if e["kind"] == "order_filled"
    )
    assert net != 0
    async with live_trader(tmp_path, monkeypatch, stage="HOT") as again:
        events = again.events()
        restored = [e for e in events if e["kind"] == "positions_restored"]
        assert len(restored) == 1
        assert restored[0]["fills"] == sum(e["kind"] == "order_filled" for e in logged)
        assert float(restored[0]["positions"]["live"][SYMBOL]) == pytest.approx(net)
        # restored before the first tick: every order the new trader sent came after it
        at = events.index(restored[0])
        assert all(e["kind"] != "order_submitted" for e in events[len(logged) : at])
