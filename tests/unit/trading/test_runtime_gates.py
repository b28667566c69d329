"""The agent's gate view fails closed where the parts meet: deleted or missing objects, a dead watch,
a gate callback that raises, a role whose work died. In-process, on a fake clock and a fake control
plane; no wall-clock waits decide anything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from quantops_api import Gate
from quantops_api.orchestration import MISSING_GATE
from quantops_trading.runtime.agent import AgentRuntime, IdleWork
from quantops_trading.runtime.control import (
    Beat,
    ControlUnavailable,
    GateSnapshot,
    _KubeGateView,
)
from quantops_trading.runtime.gatestate import GateState


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def obj(name: str, gate: str = "GO", **extra: Any) -> dict[str, Any]:
    spec = {"gate": gate, **extra.pop("spec", {})}
    return {"metadata": {"name": name, "resourceVersion": "1", **extra}, "spec": spec}


# -- GateState -------------------------------------------------------------------------------------


def test_a_strategy_scope_restricts_only_its_strategy() -> None:
    clock = Clock()
    g = GateState(grace_seconds=15, clock=clock)
    g.update(
        {"Agent/t": "GO", "RiskPolicy/global": "GO", "Strategy/a": "STOP", "RiskPolicy/lim": "PAUSE"},
        strategy_scopes={"a": ["Strategy/a"], "b": ["Strategy/b", "RiskPolicy/lim"]},
    )
    assert g.effective()[0] is Gate.GO  # the agent's other strategies go on
    assert g.effective_for("a") == (Gate.STOP, "Strategy/a")
    assert g.effective_for("b") == (Gate.PAUSE, "RiskPolicy/lim")
    assert g.strategy_gate("unknown")[0] is Gate.GO
    # a control plane that does not say which scopes are whose: everything is agent-wide
    g.update({"Agent/t": "GO", "Strategy/a": "STOP"}, strategy_scopes={})
    assert g.effective()[0] is Gate.STOP


def test_freshness_comes_from_the_gate_stream_not_from_time_passing() -> None:
    clock = Clock()
    g = GateState(grace_seconds=15, clock=clock)
    assert g.effective()[0] is Gate.PAUSE  # nothing seen yet: fail closed
    g.update({"Agent/t": "GO"})
    v = g.version
    assert g.effective()[0] is Gate.GO
    clock.t += 16
    assert g.api_lost() and g.effective() == (Gate.PAUSE, "FailClosed/control-plane-unreachable")
    g.update({"Agent/t": "GO"})  # the same gates again: fresh, but not a change
    assert g.effective()[0] is Gate.GO and g.version == v


# -- the Kubernetes view -----------------------------------------------------------------------------


def view_with(*objs: tuple[str, dict[str, Any]]) -> _KubeGateView:
    v = _KubeGateView("trader", ["momo", "mr"])
    for kind, o in objs:
        v.put(kind, o)
    return v


def test_missing_or_deleted_objects_read_as_pause() -> None:
    v = view_with(("Agent", obj("trader")), ("Strategy", obj("momo")), ("Strategy", obj("mr")))
    snap = v.snapshot("1")
    assert snap.gates["RiskPolicy/global"] == MISSING_GATE == "PAUSE"  # no global policy: fail closed
    v.put("RiskPolicy", obj("global", "STOP"))
    changed = v.snapshot_if_changed("2")
    assert changed is not None and changed.gates["RiskPolicy/global"] == "STOP"
    assert v.snapshot_if_changed("2b") is None  # nothing new: no snapshot
    v.drop("RiskPolicy", obj("global"))  # deleting a STOPped policy must not lift the stop to GO
    assert v.snapshot("3").gates["RiskPolicy/global"] == "PAUSE"
    v.drop("Agent", obj("trader"))
    assert v.snapshot("4").gates["Agent/trader"] == "PAUSE"


def test_policies_apply_by_reference_and_by_selector_and_their_specs_come_along() -> None:
    momo = obj("momo", spec={"riskPolicyRef": "lim", "pairs": ["BTC/USDT"]}, labels={"family": "momentum"})
    mr = obj("mr", spec={"pairs": ["ETH/BTC"]}, labels={"family": "mean-reversion"})
    sel = obj("by-family", "STOP", spec={"selector": {"family": "mean-reversion"}, "maxPairExposure": 5})
    other = obj("elsewhere", "STOP", spec={"selector": {"family": "arb"}})
    v = view_with(
        ("Agent", obj("trader")),
        ("Agent", obj("someone-else", "STOP")),  # not ours: ignored
        ("RiskPolicy", obj("global")),
        ("RiskPolicy", obj("lim", "PAUSE")),
        ("RiskPolicy", sel),
        ("RiskPolicy", other),
        ("Strategy", momo),
        ("Strategy", mr),
    )
    snap = v.snapshot("1")
    assert snap.strategy_scopes == {
        "momo": ["Strategy/momo", "RiskPolicy/lim"],
        "mr": ["Strategy/mr", "RiskPolicy/by-family"],
    }
    assert snap.gates == {
        "Agent/trader": "GO",
        "RiskPolicy/global": "GO",
        "Strategy/momo": "GO",
        "RiskPolicy/lim": "PAUSE",
        "Strategy/mr": "GO",
        "RiskPolicy/by-family": "STOP",
    }
    assert snap.specs is not None
    assert snap.specs["RiskPolicy/by-family"]["maxPairExposure"] == 5
    assert snap.specs["Strategy/momo"]["pairs"] == ["BTC/USDT"]
    assert "RiskPolicy/elsewhere" not in snap.specs
    g = GateState(grace_seconds=15)
    g.update(snap.gates, snap.stages, snap.strategy_scopes)
    assert g.effective()[0] is Gate.GO
    assert g.effective_for("mr")[0] is Gate.STOP and g.effective_for("momo")[0] is Gate.PAUSE
    # a referenced policy that does not exist: that strategy pauses, the others do not
    v.drop("RiskPolicy", obj("lim"))
    g.update(*_parts(v.snapshot("2")))
    assert g.effective_for("momo") == (Gate.PAUSE, "RiskPolicy/lim") and g.effective()[0] is Gate.GO


def _parts(s: GateSnapshot) -> tuple[Any, ...]:
    return s.gates, s.stages, s.strategy_scopes


# -- the runtime around a fake control plane --------------------------------------------------------


class FakeControl:
    """Hands out scripted snapshots; each watch_gates call takes the next script (an exception ends it)."""

    def __init__(self, scripts: list[list[GateSnapshot | Exception]]) -> None:
        self.scripts = scripts
        self.watches = 0
        self.fed = asyncio.Event()

    async def heartbeat(self, beat: Beat) -> None:
        return None

    async def release(self) -> None:
        return None

    async def watch_gates(self, max_silence: float = 60.0) -> AsyncIterator[GateSnapshot]:
        self.watches += 1
        script = self.scripts.pop(0) if self.scripts else []
        for item in script:
            if isinstance(item, Exception):
                raise item
            yield item
        if not self.scripts:
            self.fed.set()
            await asyncio.Event().wait()  # then silent forever

    async def close(self) -> None:
        return None


def snap(gate: str) -> GateSnapshot:
    return GateSnapshot({"Agent/t": gate}, gate)


async def test_the_gate_watch_survives_any_error_and_a_raising_callback_is_retried() -> None:
    control = FakeControl(
        [
            [snap("GO"), RuntimeError("a bug in the watch")],  # not a ControlUnavailable
            [ControlUnavailable("api server gone")],
            [snap("STOP")],
        ]
    )
    rt = AgentRuntime(name="t", role="feed", control=control, heartbeat_seconds=60, port=0)
    seen: list[Gate] = []
    fail = [True]

    async def cancel_all(gate: Gate, source: str) -> None:
        seen.append(gate)
        if gate is Gate.STOP and fail[0]:
            fail[0] = False
            raise RuntimeError("venue refused the cancel")

    rt.on_gate.append(cancel_all)
    task = asyncio.create_task(rt._gate_watch())
    await asyncio.wait_for(control.fed.wait(), 30)
    await asyncio.sleep(0)
    assert control.watches == 3  # re-opened after the bug and after the outage
    assert rt.effective_gate() is Gate.STOP  # a later STOP is applied, not frozen at GO
    assert seen[-1] is Gate.STOP and rt._applied != (Gate.STOP, "Agent/t")  # its callback failed
    await rt._apply_gate()  # the next beat retries the failed callback
    assert rt._applied == (Gate.STOP, "Agent/t") and seen.count(Gate.STOP) == 2
    assert rt.m_callback_errors._value.get() == 1
    rt.stopping.set()
    task.cancel()


class DyingWork(IdleWork):
    async def run(self, rt: AgentRuntime) -> None:
        raise RuntimeError("replay task died")


async def test_a_role_whose_work_died_is_not_alive_and_not_ready() -> None:
    rt = AgentRuntime(name="v", role="venue-sim", control=FakeControl([]), work=DyingWork(), port=0)
    assert rt.alive()
    await rt._run_work()
    assert not rt.alive()
    ok, why = rt.ready()
    assert not ok and "replay task died" in why
    assert rt.status()["workFailure"] == "RuntimeError: replay task died"


class DeadWatchLiveHeartbeat(FakeControl):
    """The API answers heartbeats, but the gate watch fails every time it is opened."""

    beats = 0

    async def heartbeat(self, beat: Beat) -> None:
        self.beats += 1

    async def watch_gates(self, max_silence: float = 60.0) -> AsyncIterator[GateSnapshot]:
        self.watches += 1
        raise ControlUnavailable("watch refused")
        yield  # pragma: no cover - an async generator that never yields


async def test_a_dead_gate_watch_fails_closed_even_while_heartbeats_get_through() -> None:
    """Before: a renewed heartbeat counted as contact, so a dead watch kept its last gate forever
    and a later STOP was never applied. Freshness now comes from the gate stream alone."""
    clock = Clock()
    control = DeadWatchLiveHeartbeat([])
    rt = AgentRuntime(name="t", role="feed", control=control, heartbeat_seconds=0.01, port=0)
    rt.gates = GateState(grace_seconds=15, clock=clock)
    rt.gates.update({"Agent/t": "GO"})  # the last view the watch gave before it died
    beats = asyncio.create_task(rt._heartbeats())
    await asyncio.sleep(0.05)
    assert control.beats > 0 and rt.effective_gate() is Gate.GO  # still inside the grace
    clock.t += 16
    await asyncio.sleep(0.05)
    assert control.beats > 1
    assert rt.gates.effective() == (Gate.PAUSE, "FailClosed/control-plane-unreachable")
    assert rt._applied == (Gate.PAUSE, "FailClosed/control-plane-unreachable")  # applied by the beat loop
    rt.stopping.set()
    await beats
