"""Unwind ladder (58), execution-health kill switches (61), adverse trade clustering (62)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from risk_support import fill, gateway, permissive, req

from quantops_api import Gate
from quantops_trading.execution.breaker import BreakerConfig, CircuitBreaker
from quantops_trading.execution.types import OrderType
from quantops_trading.risk.health import AdverseClusterDetector, HealthSnapshot, health_actions, snapshot_from
from quantops_trading.risk.unwind import UnwindLadder, ladders_for_stress
from quantops_trading.storage.eventlog import EventLog

LADDER = [
    {"style": "passive", "after_seconds": 0, "max_fraction": 0.25},
    {"style": "aggressive", "after_seconds": 60, "max_fraction": 0.5},
    {"style": "market", "after_seconds": 120, "max_fraction": 1.0},
]


async def test_58_ladder_stages_passive_aggressive_market_under_stop(tmp_path: Path) -> None:
    with EventLog(tmp_path / "audit.db") as log:
        gw, client, clock = gateway(permissive(unwind_ladder=LADDER, max_drawdown=0.05), audit=log)
        gw.set_capital("alpha", Decimal(1000))
        gw.on_fill("alpha", fill("buy", "8", "100"))
        gw.on_price("BTC/USDT", Decimal(90))  # drawdown 8% → STOP
        assert gw.scope_gate("strategy/alpha") is Gate.STOP
        assert (await gw.submit(req("sell", "1", reduce_only=True, price="90"))).denied
        (ladder,) = ladders_for_stress(gw)
        styles = []
        for t in (0, 30, 60, 90, 120):
            clock.t = ladder.started_at + t
            step = await ladder.step()
            assert step is not None and step.action == "child_order"
            styles.append(step.style)
            intent, _ = client.created[-1]
            gw.on_fill("alpha", fill("sell", intent.quantity, "90"))  # the child fills
        assert styles == ["passive", "passive", "aggressive", "aggressive", "market"]
        sizes = [i.quantity for i, _ in client.created]
        assert sizes == [Decimal(2), Decimal("1.5"), Decimal("2.25"), Decimal("1.125"), Decimal("1.125")]
        assert client.created[0][0].price == Decimal(90) and client.created[2][0].price < Decimal(90)
        assert client.created[-1][0].type is OrderType.MARKET
        assert all(i.reduce_only for i, _ in client.created)
        last = await ladder.step()
        assert last is not None and last.action == "done"
        kinds = [e.data()["action"] for e in log.entries() if e.data()["kind"] == "risk_unwind_step"]
        assert kinds == ["start", *["child_order"] * 5, "done"]


async def test_58_ladder_is_interruptible_and_cancels_its_working_child() -> None:
    gw, client, clock = gateway(permissive(unwind_ladder=LADDER))
    gw.on_fill("alpha", fill("buy", "4", "100"))
    gw.set_gate("global", Gate.STOP, actor="ops", reason="stress")
    ladder = UnwindLadder(gw, "alpha", "BTC/USDT")
    await ladder.step()
    clock.advance(10)
    await ladder.step()  # the previous unfilled child is cancelled first
    assert client.cancelled == [client.created[0][1]]
    ladder.interrupt("operator took over")
    assert await ladder.step() is None and len(client.created) == 2
    assert ladder.steps[-1].action == "interrupted"

    async def child_fills(_: float) -> None:
        gw.on_fill("alpha", fill("sell", client.created[-1][0].quantity, "100"))

    steps = await UnwindLadder(gw, "alpha", "BTC/USDT").run(sleep=child_fills)
    assert steps[-1].action == "done" and gw.book.position("alpha", "BTC/USDT") == 0


def test_58_no_ladder_in_policy_refuses_to_improvise() -> None:
    gw, _, _ = gateway()
    with pytest.raises(ValueError, match="no unwind ladder"):
        UnwindLadder(gw, "alpha", "BTC/USDT")


async def test_61_execution_health_moves_the_venue_scope_to_pause_or_stop() -> None:
    gw, _, _ = gateway()
    t = [0.0]
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=2, cooldown_s=30), clock=lambda: t[0])
    breaker.record_failure()
    breaker.record_failure()
    gw.apply(health_actions(snapshot_from("sim", breaker)))
    assert gw.scope_gate("venue/sim") is Gate.PAUSE
    assert (await gw.submit(req())).denied
    gw.apply(health_actions(HealthSnapshot("sim")))
    assert gw.scope_gate("venue/sim") is Gate.GO
    gw.apply(health_actions(HealthSnapshot("sim", dns_failures=5)))
    assert gw.switches("venue/sim") == {"dns": Gate.PAUSE}
    gw.apply(health_actions(HealthSnapshot("sim", p99_latency_s=2.5)))
    assert gw.switches("venue/sim") == {"latency_p99": Gate.PAUSE}
    gw.apply(health_actions(HealthSnapshot("sim", telemetry_age_s=120)))
    assert gw.scope_gate("venue/sim") is Gate.STOP
    assert (await gw.submit(req())).denied


async def test_62_clustered_losses_throttle_then_pause_the_cluster() -> None:
    det = AdverseClusterDetector(window_s=600, throttle_at=2, pause_at=4, throttle_interval_s=60)
    gw, _, clock = gateway(cluster=det)

    def lose(pair: str, regime: str) -> None:
        gw.on_fill("alpha", fill("buy", "1", "100", pair=pair), regime=regime)
        gw.on_fill("alpha", fill("sell", "1", "95", pair=pair), regime=regime)
        clock.advance(1)

    lose("ETH/USDT", "trend")
    lose("SOL/USDT", "trend")  # two in regime "trend" (and in time, and on the venue)
    assert ("regime", "trend") in det.throttled and ("pair", "ETH/USDT") not in det.throttled
    assert not (await gw.submit(req(pair="ADA/USDT", regime="chop"))).denied  # first order passes
    d = await gw.submit(req(pair="ADA/USDT", regime="chop"))  # venue/time cluster throttled
    assert d.denied and d.reasons[0][0] == "adverse_cluster"
    clock.advance(61)
    assert not (await gw.submit(req(pair="ADA/USDT"))).denied
    lose("XRP/USDT", "trend")
    lose("DOT/USDT", "trend")
    assert gw.scope_gate("regime/trend") is Gate.PAUSE and gw.scope_gate("global") is Gate.PAUSE
    clock.advance(700)
    gw.apply(det.tick(clock()))
    assert gw.scope_gate("regime/trend") is Gate.GO and not det.throttled


async def test_62_the_throttle_paces_live_orders_not_a_warm_strategy_s_paper_orders() -> None:
    from quantops_trading.risk.book import RiskBook

    det = AdverseClusterDetector(window_s=600, throttle_at=2, pause_at=4, throttle_interval_s=60)
    gw, _, clock = gateway(cluster=det)
    for pair in ("ETH/USDT", "SOL/USDT"):  # two losing live closes: the time/venue cluster throttles
        gw.on_fill("alpha", fill("buy", "1", "100", pair=pair), regime="trend")
        gw.on_fill("alpha", fill("sell", "1", "95", pair=pair), regime="trend")
        clock.advance(1)
    assert not (await gw.submit(req(pair="ADA/USDT", regime="chop"))).denied  # the one allowed
    assert (await gw.submit(req(pair="ADA/USDT", regime="chop"))).reasons[0][0] == "adverse_cluster"
    gw.set_gate("strategy/beta", Gate.CHECK, actor="stage", reason="WARM")
    gw.paper_books["beta"] = RiskBook()
    for _ in range(3):  # paper orders of a WARM strategy are recorded, not throttled
        assert (await gw.submit(req(pair="ADA/USDT", strategy="beta"))).action == "recorded"
    assert (await gw.submit(req(pair="ADA/USDT", regime="chop"))).denied  # live still throttled


async def test_58_fills_of_the_cancelled_child_are_booked_before_the_next_child_is_sized() -> None:
    gw, client, clock = gateway(permissive(unwind_ladder=LADDER))
    gw.on_fill("alpha", fill("buy", "4", "100"))
    gw.set_gate("global", Gate.STOP, actor="ops", reason="stress")
    venue_fills: list[str] = []  # what the venue filled but the runner has not polled yet

    async def sync() -> None:
        while venue_fills:
            gw.on_fill("alpha", fill("sell", venue_fills.pop(), "100"))

    ladder = UnwindLadder(gw, "alpha", "BTC/USDT", sync=sync, step_size=Decimal("0.001"))
    await ladder.step()
    assert client.created[-1][0].quantity == Decimal(1)  # 25% of 4
    venue_fills.append("1")  # the passive child filled between two polls
    clock.advance(120)
    await ladder.step()  # market rung: everything that is left — 3, not 4
    assert client.created[-1][0].quantity == Decimal(3)
    assert ladder.steps[-1].remaining == "3"
