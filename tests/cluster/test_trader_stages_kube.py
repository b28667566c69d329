"""KubeControl carries each Strategy's stage with its gates, live, from a real kube-apiserver.

As the agent's ServiceAccount (the chart's agent Role): the list gives ``status.stage`` and
``spec.desiredStage``; a status-subresource patch (what the pipeline writes) and a spec change
(the owner's ceiling) each arrive as a new snapshot, and :class:`GateState` resolves them as the
trader does. The trader's behaviour per stage is tested in tests/local/test_trader_stages.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

from controlplane import ControlPlane

from quantops_api import Stage
from quantops_trading.runtime.control import ControlUnavailable, GateSnapshot, KubeControl
from quantops_trading.runtime.gatestate import GateState

from .test_kube_events import _namespace_as_agent


async def _next(gen: AsyncIterator[GateSnapshot], pred: Callable[[GateSnapshot], bool]) -> GateSnapshot:
    async def scan() -> GateSnapshot:
        async for snap in gen:
            if pred(snap):
                return snap
        raise AssertionError("watch ended")

    return await asyncio.wait_for(scan(), 30)


async def test_kube_control_reports_stages_and_their_changes_live(crds_installed: ControlPlane) -> None:
    plane = crds_installed
    ns, creds = await asyncio.to_thread(_namespace_as_agent, plane)  # Strategy momo: no status
    control = KubeControl(creds, "trader", "0", ["momo", "ghost"])
    gates = GateState(grace_seconds=1e9)
    for _ in range(60):  # a fresh RBAC binding may answer 429/403 for a moment; the runtime retries too
        gen = control.watch_gates()
        try:
            first = await asyncio.wait_for(anext(gen), 30)
            break
        except ControlUnavailable:
            await asyncio.sleep(0.5)
    else:
        raise AssertionError("the gate watch never listed")
    try:
        assert first.stages is not None
        assert first.stages["momo"] == {"stage": None, "desiredStage": "COLD"}  # the CRD default
        assert first.stages["ghost"] == {"stage": None, "desiredStage": None}  # no such object
        gates.update(first.gates, first.stages)
        assert gates.stage_of("momo")[0] is Stage.COLD
        assert gates.stage_of("ghost", "HOT")[0] is Stage.WARM  # unknown: fail closed to paper

        patch = ("-n", ns, "patch", "strategy", "momo", "--type=merge", "-p")
        await asyncio.to_thread(plane.kubectl, *patch, json.dumps({"spec": {"desiredStage": "HOT"}}))
        snap = await _next(gen, lambda s: (s.stages or {})["momo"]["desiredStage"] == "HOT")
        gates.update(snap.gates, snap.stages)
        assert gates.stage_of("momo")[0] is Stage.WARM  # desired HOT, but no stage yet

        status = json.dumps({"status": {"stage": "HOT"}})
        await asyncio.to_thread(
            plane.kubectl, "-n", ns, "patch", "strategy", "momo", "--subresource=status", "--type=merge",
            "-p", status,
        )  # fmt: skip
        snap = await _next(gen, lambda s: (s.stages or {})["momo"]["stage"] == "HOT")
        gates.update(snap.gates, snap.stages)
        assert gates.stage_of("momo")[0] is Stage.HOT

        await asyncio.to_thread(plane.kubectl, *patch, json.dumps({"spec": {"desiredStage": "WARM"}}))
        snap = await _next(gen, lambda s: (s.stages or {})["momo"]["desiredStage"] == "WARM")
        gates.update(snap.gates, snap.stages)
        stage, why = gates.stage_of("momo")
        assert stage is Stage.WARM and "capped by spec.desiredStage" in why
    finally:
        await gen.aclose()  # type: ignore[attr-defined]
        await control.close()
