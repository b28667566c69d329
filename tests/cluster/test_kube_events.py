"""Kubernetes Events for automatic decisions, written as the agent's ServiceAccount (93, 60).

Against the real kube-apiserver: a namespace with the trader role's Role
(``quantops_operator.agent_rbac.rules("trader")``, what the chart renders), a token for
``quantops-agent-trader``, and
:class:`KubeEventRecorder` using only that token. Every assertion reads the result back from the
API: the Event (with ``regarding`` pointing at the object's uid and ``series.count`` after a
repeat), the RiskPolicy's ``status.lastBudgetChange``, and an alert routed to a kube-events channel.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from controlplane import ControlPlane

from quantops_operator import agent_rbac
from quantops_trading.model.events import GateChanged
from quantops_trading.observability.alerts import Alert, router_from_config
from quantops_trading.observability.kube_events import KubeEventRecorder
from quantops_trading.risk.allocator import BudgetAllocator, StrategyScore
from quantops_trading.risk.events import StageDemoted
from quantops_trading.runtime.control import KubeCredentials

from .conftest import agent_role_token, get, unique

pytestmark = pytest.mark.cluster


def _namespace_as_agent(plane: ControlPlane) -> tuple[str, KubeCredentials]:
    ns = unique("ev")
    k = plane.kubectl
    k("create", "namespace", ns)
    token = agent_role_token(plane, ns, "trader")
    for obj in (
        {"kind": "RiskPolicy", "metadata": {"name": "global"}, "spec": {"gate": "GO"}},
        {
            "kind": "Strategy",
            "metadata": {"name": "momo"},
            "spec": {
                "entrypoint": "quantops_trading.strategies.momentum:Momentum",
                "params": {"fast": 2, "slow": 3},
                "pairs": ["BTC/USDT"],
            },
        },
    ):
        k("-n", ns, "apply", "-f", "-", input=json.dumps({"apiVersion": "quantops.dev/v1alpha1", **obj}))
    return ns, KubeCredentials(plane.server, token, str(plane.ca_file), ns)


def _events(plane: ControlPlane, ns: str) -> list[dict[str, Any]]:
    out = plane.kubectl("get", "--raw", f"/apis/events.k8s.io/v1/namespaces/{ns}/events").stdout
    return list(json.loads(out)["items"])


def test_automatic_decisions_become_deduplicated_events_and_status(crds_installed: ControlPlane) -> None:
    plane = crds_installed
    ns, creds = _namespace_as_agent(plane)
    sa = f"system:serviceaccount:{ns}:{agent_rbac.service_account('trader')}"
    can = lambda *a: plane.kubectl("auth", "can-i", *a, f"--as={sa}", "-n", ns, check=False).stdout.strip()  # noqa: E731
    assert can("create", "events.events.k8s.io") == "yes" and can("patch", "events.events.k8s.io") == "yes"
    assert can("patch", "riskpolicies.quantops.dev", "--subresource=status") == "yes"
    assert can("delete", "events.events.k8s.io") == "no"
    assert can("delete", "riskpolicies.quantops.dev") == "no"
    assert can("patch", "agents.quantops.dev") == "no"
    assert can("patch", "riskpolicies.quantops.dev") == "no"  # a gate is the canary's and people's
    assert can("patch", "strategies.quantops.dev", "--subresource=status") == "no"  # the pipeline's

    async def scenario() -> None:
        rec = KubeEventRecorder(creds, agent="trader", instance="trader-0")
        try:
            flip = GateChanged(
                ts_ns=1,
                scope="strategy/momo",
                old="GO",
                new="STOP",
                actor="risk-engine/drawdown",
                reason="strategy momo drawdown 12% ≥ 10%",
            )
            await rec.publish(flip)
            await rec.publish(flip)  # the same decision again: one Event, series.count 2
            await rec.publish(
                GateChanged(
                    ts_ns=2, scope="venue/sim", old="GO", new="PAUSE", actor="execution-health/dns",
                    reason="3 DNS failures (max 3)",
                )
            )  # fmt: skip
            await rec.publish(
                StageDemoted(
                    ts_ns=3, strategy_id="momo", old="HOT", new="WARM", realised_loss=250.0,
                    threshold=200.0, reason="realised loss 250 over 200",
                )
            )  # fmt: skip
            alloc = BudgetAllocator(audit=rec.publish_soon)
            alloc.rebalance(Decimal(10000), [StrategyScore("momo", 0.6, 0.05, 80)])
            await rec.drain()
            router = router_from_config(
                {"channels": {"k8s": {"type": "kube-events"}}}, Path("/nonexistent"), [rec]
            )
            sent = await router.dispatch(
                Alert(state="NO_GO", severity="critical", scope="RiskPolicy/global", title="STOP (was GO)")
            )
            assert sent == ["k8s"]
            assert rec.errors == []
        finally:
            await rec.close()

    asyncio.run(scenario())
    events = _events(plane, ns)
    strategy_uid = get(plane, ns, "strategy", "momo")["metadata"]["uid"]  # type: ignore[index]
    policy = get(plane, ns, "riskpolicy", "global")
    assert policy is not None

    (gate,) = [e for e in events if e["reason"] == "AutomaticGateChanged" and "drawdown" in e["note"]]
    assert gate["regarding"]["kind"] == "Strategy" and gate["regarding"]["uid"] == strategy_uid
    assert gate["type"] == "Warning" and "GO → STOP by risk-engine/drawdown" in gate["note"]
    assert gate["series"]["count"] == 2 and gate["reportingController"] == "quantops.dev/risk-engine"

    (venue,) = [e for e in events if e["reason"] == "AutomaticGateChanged" and "venue/sim" in e["note"]]
    assert venue["regarding"]["kind"] == "Agent" and venue["regarding"]["name"] == "trader"
    assert "series" not in venue  # seen once

    (demoted,) = [e for e in events if e["reason"] == "StageDemoted"]
    assert demoted["regarding"]["uid"] == strategy_uid and "HOT → WARM" in demoted["note"]

    (budget,) = [e for e in events if e["reason"] == "BudgetChanged"]
    assert budget["regarding"] == {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "RiskPolicy",
        "name": "global",
        "namespace": ns,
        "uid": policy["metadata"]["uid"],
    }
    change = policy["status"]["lastBudgetChange"]
    assert "momo" in change["explanation"] and "0.00 →" in change["explanation"]
    assert budget["note"].startswith(change["explanation"][:200])

    (alert,) = [e for e in events if e["reason"] == "AlertNOGO"]
    assert alert["regarding"]["kind"] == "RiskPolicy" and "STOP (was GO)" in alert["note"]


async def test_trader_on_kubernetes_publishes_its_automatic_decisions(
    crds_installed: ControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trader as the agent ServiceAccount: a kubectl STOP on the global RiskPolicy reaches it
    through its own gate watch, the unwind ladder flattens the position on the venue simulator, and
    an injected 5xx storm trips the venue's circuit switch — each an Event read back from the API."""
    from quantops_trading.adapters.ccxt.credentials import API_KEY_ENV, SECRET_ENV
    from quantops_trading.runtime.agent import AgentRuntime
    from quantops_trading.runtime.control import KubeControl
    from quantops_trading.runtime.trader_role import TraderWork
    from quantops_trading.venue.testing import API_KEY, API_SECRET, SimControl, running_venue, sample_config

    plane = crds_installed
    ns, creds = await asyncio.to_thread(_namespace_as_agent, plane)
    agent = {"apiVersion": "quantops.dev/v1alpha1", "kind": "Agent", "metadata": {"name": "trader"},
             "spec": {"role": "trader", "strategies": ["momo"]}}  # fmt: skip
    await asyncio.to_thread(plane.kubectl, "-n", ns, "apply", "-f", "-", input=json.dumps(agent))
    momo = {
        "entrypoint": "quantops_trading.strategies.momentum:Momentum",
        "params": {"fast": 2, "slow": 3, "threshold": 0},
        "pairs": ["BTC/USDT"],
        "desiredStage": "HOT",
    }
    strategy = {"apiVersion": "quantops.dev/v1alpha1", "kind": "Strategy", "metadata": {"name": "momo"},
                "spec": momo}  # fmt: skip
    await asyncio.to_thread(plane.kubectl, "-n", ns, "apply", "-f", "-", input=json.dumps(strategy))
    # Promoted (what the pipeline writes): the trader trades only HOT strategies live.
    await asyncio.to_thread(
        plane.kubectl, "-n", ns, "patch", "strategy", "momo", "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"stage": "HOT"}}),
    )  # fmt: skip
    monkeypatch.setenv("QUANTOPS_STATE_DIR", str(tmp_path))
    ladder = [
        {"style": "aggressive", "afterSeconds": 0, "maxFraction": 0.5},
        {"style": "market", "afterSeconds": 1, "maxFraction": 1.0},
    ]

    async def until(pred: Any, within: float, what: str) -> Any:
        for _ in range(int(within / 0.1)):
            if got := pred():
                return got
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    async with running_venue(sample_config(speed=30.0)) as server:
        work = TraderWork(
            {
                "venueUrl": server.url,
                "venueName": "sim",
                "pollSeconds": 0.2,
                "notionalPerStrategy": 2000,
                "expectedEdgeBps": 5000,
                "unwindStepSeconds": 0.3,
                "health": {"breakerFailures": 3, "breakerCooldownSeconds": 60},
            },
            {
                "strategySpecs": {"momo": momo},
                "riskPolicies": {
                    "global": {
                        "maxConsecutiveLosses": 1000,
                        "maxDrawdown": 0.9,
                        "concentrationCap": 1.0,
                        "unwindLadder": ladder,
                    }
                },
            },
            environ={API_KEY_ENV: API_KEY, SECRET_ENV: API_SECRET},  # the exchange Secret's env
        )
        rt = AgentRuntime(
            name="trader",
            role="trader",
            control=KubeControl(creds, "trader", "0", ["momo"]),
            work=work,
            heartbeat_seconds=1.0,
            port=0,
        )
        run = asyncio.create_task(rt.run())
        try:
            await until(lambda: work.state == "trading" and work.gateway is not None, 60, "trading")
            gw = work.gateway
            assert gw is not None
            await until(lambda: gw.book.position("momo", "BTC/USDT") != 0, 60, "a position")
            patch = json.dumps({"spec": {"gate": "STOP"}})
            await asyncio.to_thread(
                plane.kubectl, "-n", ns, "patch", "riskpolicy", "global", "--type=merge", "-p", patch
            )
            await until(lambda: rt.effective_gate().value == "STOP", 20, "the STOP via the gate watch")
            await until(
                lambda: gw.book.position("momo", "BTC/USDT") == 0 and not work.ladders, 30, "flat, done"
            )
            sim = SimControl(str(server.url))
            await sim.add_fault(kind="server_error", path="/api/v3")
            await until(lambda: gw.switches("venue/sim").get("connector_circuit"), 30, "circuit PAUSE")
            await sim.clear_faults()
            assert work.recorder is not None
            await work.recorder.drain()
            assert work.recorder.errors == []
        finally:
            rt.request_stop("test done")
            await asyncio.wait_for(run, 60)
    events = await asyncio.to_thread(_events, plane, ns)
    by_reason = {e["reason"]: e for e in events}
    strategy_uid = (await asyncio.to_thread(get, plane, ns, "strategy", "momo"))["metadata"]["uid"]  # type: ignore[index]
    started = by_reason["UnwindStarted"]
    assert started["regarding"]["uid"] == strategy_uid and "gate STOP on global" in started["note"]
    assert by_reason["UnwindDone"]["regarding"]["name"] == "momo"
    # the circuit's own event, whatever other automatic venue decision (an adverse cluster of
    # fills, say) the run happened to make first
    venue = [e for e in events if e["reason"] == "AutomaticGateChanged" and "venue/sim" in e["note"]]
    circuit = [e for e in venue if "execution-health/connector_circuit" in e["note"]]
    assert circuit, [e["note"] for e in venue]
    assert circuit[0]["regarding"]["kind"] == "Agent" and circuit[0]["type"] == "Warning"
    assert all(e["reportingInstance"] == "trader-0" for e in events)
