"""The gateway: gate semantics, hard pair limits (51), live policy updates, audit, in-flight flips."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError
from risk_support import fill, gateway, permissive, req

from quantops_api import Gate
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.execution.types import Side
from quantops_trading.runtime.gatestate import GateState
from quantops_trading.storage.eventlog import EventLog


async def test_go_sends_check_records_and_nothing_reaches_the_venue() -> None:
    gw, client, _ = gateway()
    assert (await gw.submit(req())).action == "sent"
    gw.set_gate("global", Gate.CHECK, actor="test", reason="dry run")
    d = await gw.submit(req())
    assert d.action == "recorded" and len(client.created) == 1 and len(gw.would_be) == 1


async def test_a_paper_strategy_under_check_is_judged_on_its_paper_positions() -> None:
    """WARM: a paper exit reduces the paper position (no reduce-only/fee-guard denial); live unchanged."""
    from quantops_trading.risk.book import RiskBook

    gw, client, _ = gateway()
    gw.set_gate("strategy/alpha", Gate.CHECK, actor="stage", reason="WARM")
    exit_ = req("sell", "1", reduce_only=True, edge=None)
    assert (await gw.submit(exit_)).denied  # judged on the live book: nothing to reduce
    paper = RiskBook()
    paper.note_fill("alpha", "BTC/USDT", Side.BUY, Decimal(2), Decimal(100), Decimal(0), 0.0)
    gw.paper_books["alpha"] = paper
    assert (await gw.submit(req("sell", "1", reduce_only=True, edge=None))).action == "recorded"
    assert gw.book.position("alpha", "BTC/USDT") == 0 and client.created == []
    gw.set_gate("strategy/alpha", Gate.GO, actor="stage", reason="HOT")  # live again: the live book
    assert (await gw.submit(req("sell", "1", reduce_only=True, edge=None))).denied


async def test_pause_lets_only_reducing_reduce_only_orders_through() -> None:
    gw, client, _ = gateway()
    gw.on_fill("alpha", fill("buy", "2", "100"))
    gw.set_gate("strategy/alpha", Gate.PAUSE, actor="test", reason="pause")
    assert (await gw.submit(req("buy", "1"))).denied
    assert (await gw.submit(req("sell", "1"))).denied  # reduces, but not flagged reduce-only
    assert (await gw.submit(req("sell", "3", reduce_only=True))).denied  # would flip the position
    assert (await gw.submit(req("sell", "1", reduce_only=True))).action == "sent"
    assert (await gw.submit(req("buy", "1", strategy="beta"))).action == "sent"  # other scope untouched
    assert len(client.created) == 2


async def test_stop_allows_only_cancels_and_unwind_orders() -> None:
    gw, client, _ = gateway()
    gw.on_fill("alpha", fill("buy", "2", "100"))
    gw.set_gate("global", Gate.STOP, actor="test", reason="stop")
    d = await gw.submit(req("sell", "1", reduce_only=True))
    assert d.denied and d.reasons[0][0] == "gate"
    await gw.cancel("alpha", "BTC/USDT", "abc")
    assert client.cancelled == ["abc"]
    assert (await gw.submit(req("sell", "1", unwind=True))).action == "sent"
    assert (await gw.submit(req("buy", "1", unwind=True))).denied  # unwind must reduce


async def test_denial_carries_every_reason_and_is_an_order_denied_event() -> None:
    gw, _, _ = gateway(permissive(max_pair_exposure=50.0))
    gw.set_gate("global", Gate.PAUSE, actor="t", reason="r")
    d = await gw.submit(req("buy", "1", edge=None))
    assert {r for r, _ in d.reasons} >= {"gate", "fee_guard", "pair_exposure"}
    ev = gw.denials[-1]
    assert ev.kind == "order_denied" and "pair_exposure" in ev.rule and "fee_guard" in ev.reason


async def test_51_order_breaching_the_hard_pair_limit_is_denied_with_overrides() -> None:
    gw, client, _ = gateway(permissive(max_pair_exposure=500.0, pair_exposure_overrides={"ETH/USDT": 150.0}))
    assert (await gw.submit(req("buy", "4"))).action == "sent"  # 400 <= 500
    gw.on_fill("alpha", fill("buy", "4", "100"))
    d = await gw.submit(req("buy", "2", strategy="beta"))  # net pair 600 > 500, across strategies
    assert d.denied and d.reasons[0][0] == "pair_exposure"
    assert (await gw.submit(req("buy", "2", pair="ETH/USDT"))).denied  # 200 > override 150
    assert (await gw.submit(req("sell", "2", strategy="beta"))).action == "sent"  # reduces net exposure
    assert len(client.created) == 2


async def test_51_price_move_breach_trips_pair_stop_until_back_under(tmp_path: Path) -> None:
    with EventLog(tmp_path / "audit.db") as log:
        gw, _, _ = gateway(permissive(max_pair_exposure=500.0), audit=log)
        gw.on_fill("alpha", fill("buy", "4", "100"))
        gw.on_price("BTC/USDT", Decimal(140))  # 560 > 500
        assert gw.scope_gate("pair/BTC/USDT") is Gate.STOP
        assert (await gw.submit(req("buy", "1", pair="BTC/USDT", price="140"))).denied
        assert (await gw.submit(req("buy", "1", pair="ETH/USDT"))).action == "sent"
        gw.on_price("BTC/USDT", Decimal(120))  # 480
        assert gw.scope_gate("pair/BTC/USDT") is Gate.GO
        kinds = [e.data()["kind"] for e in log.entries()]
        gate_changes = [e.data() for e in log.entries() if e.data()["kind"] == "gate_changed"]
        assert "risk_kill_switch" in kinds
        assert [(g["old"], g["new"]) for g in gate_changes] == [("GO", "STOP"), ("STOP", "GO")]
        assert log.verify() == len(kinds)


async def test_policy_object_replacement_applies_to_the_next_check() -> None:
    gw, _, _ = gateway(permissive())
    assert not (await gw.submit(req("buy", "5"))).denied
    gw.update_policy(permissive(max_pair_exposure=100.0))
    assert (await gw.submit(req("buy", "5"))).denied
    gw.update_policy(permissive(gate=Gate.STOP), strategy="beta")
    assert (await gw.submit(req("buy", "0.5", strategy="beta"))).reasons[0][0] == "gate"
    assert not (await gw.submit(req("buy", "0.5"))).denied


async def test_agent_gate_state_fail_closed_is_part_of_the_effective_gate() -> None:
    t = [0.0]
    state = GateState(grace_seconds=5, clock=lambda: t[0])
    state.update({"Strategy/alpha": "GO"})
    gw, _, _ = gateway(gate_state=state)
    assert not (await gw.submit(req())).denied
    t[0] = 10.0  # control plane lost → PAUSE
    assert (await gw.submit(req())).denied


@pytest.mark.parametrize(
    "bad",
    [
        {"maxPairExposure": -1},
        {"var": {"confidence": 1.0}},
        {"var": {"confidence": 0.0}},
        {"var": {"varLimit": 100, "esLimit": 50}},
        {"maxPairExposure": 200, "maxGrossExposure": 100},
        {"cashFloor": -5},
        {"unwindLadder": [{"style": "market", "afterSeconds": 0, "maxFraction": 1.5}]},
        {"maxTradesPerMinute": 0},
        {"feeGuard": {"takerFeeBps": -1}},
    ],
)
def test_bad_policies_are_rejected_by_the_models(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RiskPolicySpec.model_validate(bad)


async def test_gate_flip_while_orders_are_in_flight_stops_later_sends() -> None:
    """Orders checked before a flip but not yet sent are re-checked: nothing is sent after the ack."""
    rng = random.Random(7)

    async def signing_delay() -> None:  # serialisation/signing/rate-limit wait before the send
        await asyncio.sleep(rng.uniform(0, 0.004))

    gw, client, _ = gateway(pre_send=signing_delay)
    acked: dict[str, int | None] = {"epoch": None}

    def on_create(_intent: object) -> None:
        assert acked["epoch"] is None, "an order reached the venue after the STOP was acknowledged"

    client.on_create = on_create
    client.latency = 0.001

    async def flipper() -> None:
        await asyncio.sleep(0.002)
        gw.set_gate("global", Gate.STOP, actor="test", reason="flip in flight")
        acked["epoch"] = gw.gate_epoch

    tasks = [asyncio.create_task(gw.submit(req("buy", "0.01"))) for _ in range(50)]
    tasks.append(asyncio.create_task(flipper()))
    results = await asyncio.gather(*tasks)
    decisions = [r for r in results if r is not None]
    assert any(d.denied and "flipped before send" in d.reasons[0][1] for d in decisions)
    assert 0 < len(client.created) < 50
