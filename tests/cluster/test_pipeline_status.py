"""The pipeline agent against the real API server: it reads Strategies and RiskPolicies of its
namespace, runs its cycle on real candles and patches each Strategy's status subresource; the
operator's own status fields (effective gate, conditions) survive, and the pipeline's stage
survives the operator's reconciles. Lowering desiredStage demotes on the next cycle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from controlplane import ControlPlane, free_port

from quantops_operator import agent_rbac
from quantops_trading.pipeline.store import StatusWriteError
from quantops_trading.runtime.control import KubeCredentials
from quantops_trading.runtime.strategy_status import KubeStrategyStatus, claim_lease_name

from .conftest import agent_role_token, get, unique, wait_for

pytestmark = pytest.mark.cluster

PARAMS = {"fast": 30, "slow": 120, "threshold": 0.005}


def _apply(plane: ControlPlane, ns: str, body: dict[str, Any]) -> None:
    plane.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(body))


def _stage(plane: ControlPlane, ns: str, name: str) -> str | None:
    obj = get(plane, ns, "strategies.quantops.dev", name)
    return ((obj or {}).get("status") or {}).get("stage")


def test_pipeline_agent_patches_strategy_status_on_kubernetes(
    crds_installed: ControlPlane, operator: str, tmp_path: Path
) -> None:
    plane, ns = crds_installed, operator
    pol, good, bad, agent = unique("pipe-pol"), unique("pipe-neo"), unique("pipe-dash"), unique("pipeline")
    _apply(plane, ns, {"apiVersion": "quantops.dev/v1alpha1", "kind": "RiskPolicy", "metadata": {"name": pol},
                       "spec": {"concentrationCap": 1.0, "maxConsecutiveLosses": 20}})  # fmt: skip
    for name, pair in ((good, "NEO/BTC"), (bad, "DASH/BTC")):
        _apply(plane, ns, {
            "apiVersion": "quantops.dev/v1alpha1", "kind": "Strategy", "metadata": {"name": name},
            "spec": {"entrypoint": "quantops_trading.strategies.momentum:Momentum", "params": PARAMS,
                     "pairs": [pair], "desiredStage": "WARM", "riskPolicyRef": pol,
                     "promotion": {"minTrades": 10, "minSharpe": 1.0, "maxDrawdown": 0.3}},
        })  # fmt: skip
    _apply(plane, ns, {"apiVersion": "quantops.dev/v1alpha1", "kind": "Agent", "metadata": {"name": agent},
                       "spec": {"role": "pipeline"}})  # fmt: skip
    # the operator has reconciled the Strategy (its fingerprint and effective gate are in status)
    op_status = wait_for(lambda: ((get(plane, ns, "strategies.quantops.dev", good) or {}).get("status") or {})
                         .get("fingerprint") and get(plane, ns, "strategies.quantops.dev", good)["status"],  # type: ignore[index]
                         60, "operator status")  # fmt: skip
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({
        "heartbeatSeconds": 1, "apiLossGraceSeconds": 10, "strategies": [],
        "config": {"intervalSeconds": 2, "data": {
            "NEO/BTC": "candles/bittrex_NEO-BTC_5m_2017-09-05_2017-09-25.csv.gz",
            "DASH/BTC": "candles/bittrex_DASH-BTC_5m_2018-01-10_2018-01-30.csv.gz"}},
    }))  # fmt: skip
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig), "POD_NAMESPACE": ns, "POD_NAME": f"{agent}-0",
           "QUANTOPS_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
    env.pop("QUANTOPS_CONTROL_URL", None)
    log = (tmp_path / "agent.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "quantops_trading.runtime", "--role", "pipeline", "--agent", agent,
         "--host", "127.0.0.1", "--port", str(free_port()), "--config", str(cfg)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: _stage(plane, ns, good) == "WARM", 90, "neo promoted to WARM")
        st = get(plane, ns, "strategies.quantops.dev", good)["status"]  # type: ignore[index]
        assert st["fingerprint"] == op_status["fingerprint"]  # pipeline and operator agree on identity
        assert st["transitions"][-1]["toStage"] == "WARM" and "governor" in st["transitions"][-1]["reason"]
        assert st["evidence"]["checks"]["governor"]["policy"] == pol and st["leaderboardScore"] > 1.0
        assert st["effectiveGate"] == "GO" and any(
            c["type"] == "Ready" for c in st["conditions"]
        )  # operator's
        wait_for(lambda: _stage(plane, ns, bad) == "COLD", 30, "dash evaluated")
        bad_st = get(plane, ns, "strategies.quantops.dev", bad)["status"]  # type: ignore[index]
        assert bad_st["evidence"]["decision"]["reason"].startswith("fast path")
        # the operator reconciles (gate flip) without clobbering the pipeline's stage
        plane.kubectl("-n", ns, "patch", "strategies.quantops.dev", good, "--type=merge", "-p",
                      json.dumps({"spec": {"gate": "CHECK"}}))  # fmt: skip
        wait_for(lambda: (get(plane, ns, "strategies.quantops.dev", good) or {}).get("status", {})
                 .get("effectiveGate") == "CHECK", 30, "operator reconcile")  # fmt: skip
        assert _stage(plane, ns, good) == "WARM"
        # lowering desiredStage demotes on the next cycle, with the reason in status
        plane.kubectl("-n", ns, "patch", "strategies.quantops.dev", good, "--type=merge", "-p",
                      json.dumps({"spec": {"desiredStage": "COLD"}}))  # fmt: skip
        wait_for(lambda: _stage(plane, ns, good) == "COLD", 60, "demotion")
        st = get(plane, ns, "strategies.quantops.dev", good)["status"]  # type: ignore[index]
        assert "desiredStage COLD" in st["transitions"][-1]["reason"]
        # the agent's heartbeat Lease carries its queue length for the operator's scaling
        lease = get(plane, ns, "leases.coordination.k8s.io", f"{agent}-{agent}-0")
        assert lease is not None and "quantops.dev/queue-length" in lease["metadata"]["annotations"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        print((tmp_path / "agent.log").read_text()[-4000:])


def test_status_writes_and_work_claims_as_the_agent_service_account(crds_installed: ControlPlane) -> None:
    """With only the pipeline role's Role (agent_rbac, what the chart renders): patch Strategy status
    (not spec), claim work items by Lease."""
    plane = crds_installed
    k = plane.kubectl
    ns = unique("pipe-rbac")
    k("create", "namespace", ns)
    token = agent_role_token(plane, ns, "pipeline")
    sa = f"system:serviceaccount:{ns}:{agent_rbac.service_account('pipeline')}"
    can = lambda *a: k("auth", "can-i", *a, f"--as={sa}", "-n", ns, check=False).stdout.strip()  # noqa: E731
    assert can("patch", "strategies.quantops.dev", "--subresource=status") == "yes"
    assert can("patch", "strategies.quantops.dev") == "no"  # the pipeline never edits a spec
    assert can("patch", "riskpolicies.quantops.dev") == "no"  # nor lifts a gate
    momo = {"entrypoint": "quantops_trading.strategies.momentum:Momentum", "params": PARAMS, "pairs": ["A/B"]}
    obj = {"apiVersion": "quantops.dev/v1alpha1", "kind": "Strategy", "metadata": {"name": "momo"}}
    _apply(plane, ns, {**obj, "spec": momo})
    creds = KubeCredentials(plane.server, token, str(plane.ca_file), ns)
    r1, r2 = KubeStrategyStatus(creds), KubeStrategyStatus(creds)
    try:
        [rec] = r1.list_strategies()
        assert rec.name == "momo" and rec.spec.params == PARAMS and rec.status.stage is None
        trans = [{"toStage": "WARM", "reason": "test", "at": "2026-12-05T12:00:00Z"}]
        evidence = {"runId": "r-1", "retired": None}
        r1.write_status(
            "momo", {"stage": "WARM", "rejectionCount": 0, "evidence": evidence, "transitions": trans}
        )
        st = get(plane, ns, "strategies.quantops.dev", "momo")["status"]  # type: ignore[index]
        assert (
            st["stage"] == "WARM"
            and st["evidence"] == {"runId": "r-1"}
            and st["transitions"][0]["toStage"] == "WARM"
        )
        with pytest.raises(StatusWriteError, match="HTTP 422"):
            r1.write_status("momo", {"stage": "LUKEWARM"})  # the CRD schema refuses it
        # claims: one Lease per strategy, first come first served, released = done this round
        t = time.time()
        assert r1.claim("momo", "r1", 60, 30, t) == (True, "unclaimed")
        ok, why = r2.claim("momo", "r2", 60, 30, t + 1)
        assert not ok and "being evaluated by r1" in why
        r1.release("momo", "r1", t + 2)
        ok, why = r2.claim("momo", "r2", 60, 30, t + 3)
        assert not ok and "evaluated by r1" in why
        assert r2.claim("momo", "r2", 60, 0, t + 4)[0]  # a new round
        lease = get(plane, ns, "leases.coordination.k8s.io", claim_lease_name("momo"))
        assert lease is not None and lease["spec"]["holderIdentity"] == "r2"
        assert "quantops.dev/agent" not in lease["metadata"].get("labels", {})  # not a heartbeat Lease
    finally:
        r1.close()
        r2.close()
