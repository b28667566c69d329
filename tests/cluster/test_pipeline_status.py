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
from pathlib import Path
from typing import Any

import pytest
from controlplane import ControlPlane, free_port

from .conftest import get, unique, wait_for

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
