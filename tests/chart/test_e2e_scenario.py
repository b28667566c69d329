"""The hack/kind-e2e.sh scenario on the local control plane (kwok): what CI runs where kind cannot.

helm install → apply crds/samples/platform.yaml → every sample Agent Ready → flip a gate with
`kubectl patch` → it took effect: the operator's status.effectiveGate and the running trader's own
applied gate. kwok marks pods Ready without running them, so the programs run here as processes: the
operator with a token of the chart's operator ServiceAccount, the trader as the real agent runtime with
a token of the chart's trader ServiceAccount (its Lease heartbeats are real); the other sample agents'
heartbeat Leases are written by kubectl as their own role's ServiceAccount.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from controlplane import ControlPlane, free_port, operator_process

from cluster.conftest import condition, get, heartbeat, wait_for
from quantops_operator import agent_rbac

from .conftest import CHART, REPO, Helm, agent_pod, as_account, as_pod

pytestmark = pytest.mark.cluster

NS = "qe2e"
RELEASE = "e2e"
FULLNAME = "e2e-quantops"
SAMPLES = REPO / "crds" / "samples" / "platform.yaml"
EXCHANGE_SECRET = "e2e-exchange-keys"  # prod values: keys from an existing Secret, by name


def _sample_agents() -> dict[str, str]:
    """Sample Agent name → role."""
    docs = [d for d in yaml.safe_load_all(SAMPLES.read_text()) if d]
    return {d["metadata"]["name"]: d["spec"]["role"] for d in docs if d["kind"] == "Agent"}


@pytest.fixture
def installed(crds_installed: ControlPlane, cluster_helm: Helm) -> Iterator[ControlPlane]:
    plane = crds_installed
    plane.kubectl("create", "namespace", NS)
    plane.kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted")
    # The session already applied the CRDs (another release may own them): the chart skips them.
    cluster_helm(
        "install", RELEASE, str(CHART), "-n", NS, "--wait", "--timeout", "120s",
        "--set", "crds.enabled=false", "--set", "operator.resyncSeconds=1",
        "--set", f"exchange.existingSecret={EXCHANGE_SECRET}",
        # the samples are applied with kubectl below: their demo Secrets must pass admission
        "--set", "admission.exchangeSecrets={demo-trader-keys,demo-canary-keys}",
    )  # fmt: skip
    try:
        yield plane
    finally:
        cluster_helm("uninstall", RELEASE, "-n", NS, "--ignore-not-found", "--wait")
        plane.kubectl("delete", "namespace", NS, "--wait=false")


@pytest.fixture
def trader_process(installed: ControlPlane, tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The sample `trader` Agent's runtime, as its pod would run it, under the trader ServiceAccount
    with a token bound to a pod of its own (kwok runs no process; the token is what it would mount)."""
    account, pod = agent_rbac.service_account("trader"), "trader-agent-e2e-0"
    spec = {"serviceAccountName": account, "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "agent", "image": "quantops/agent:0.1.0",
                            "securityContext": {"allowPrivilegeEscalation": False,
                                                "capabilities": {"drop": ["ALL"]}}}]}  # fmt: skip
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": NS}, "spec": spec}
    installed.kubectl("apply", "-f", "-", input=json.dumps(body))
    as_agent = as_pod(installed, NS, pod, account)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"heartbeatSeconds": 1, "apiLossGraceSeconds": 5, "strategies": []}))
    port = free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(as_agent.kubeconfig),
        "POD_NAMESPACE": NS,
        "POD_NAME": pod,
    }
    env.pop("QUANTOPS_CONTROL_URL", None)
    log = (tmp_path / "trader.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "quantops_trading.runtime", "trader", "--agent", "trader",
         "--host", "127.0.0.1", "--port", str(port), "--config", str(cfg)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        print((tmp_path / "trader.log").read_text()[-3000:])


def test_install_samples_ready_then_a_gate_flip_takes_effect(
    installed: ControlPlane,
    trader_process: tuple[int, subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plane = installed
    port, proc = trader_process
    dep = get(plane, NS, "deployment", FULLNAME)
    assert dep is not None and condition(dep, "Available").get("status") == "True"
    container = dep["spec"]["template"]["spec"]["containers"][0]
    chart_env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    for key in ("QUANTOPS_AGENT_IMAGE", "QUANTOPS_EXCHANGE_SECRET"):
        monkeypatch.setenv(key, chart_env[key])  # what the chart gives the operator container
    agents = _sample_agents()
    as_operator = as_account(plane, NS, FULLNAME)
    as_role: dict[str, ControlPlane] = {}  # each agent's pod, by its pod-bound token (once it exists)
    assert "trader" in agents
    with operator_process(plane, NS, kubeconfig=as_operator.kubeconfig, resync_seconds=1, log_name="op-e2e"):
        plane.kubectl("-n", NS, "apply", "-f", str(SAMPLES))

        def ready() -> list[str]:
            not_ready = []
            for a in agents:
                if a != "trader" and a not in as_role and (pod := agent_pod(plane, NS, a)) is not None:
                    as_role[a] = as_pod(plane, NS, pod, agent_rbac.service_account(agents[a]))
                if a in as_role:
                    heartbeat(as_role[a], NS, a)
                if condition(get(plane, NS, "agent", a), "Ready").get("status") != "True":
                    not_ready.append(a)
            return not_ready

        wait_for(lambda: not ready(), 120, f"every sample Agent Ready ({sorted(agents)})")
        assert proc.poll() is None
        # Each sample agent's own exchangeSecret (it wins over the chart's exchange.existingSecret)
        # reaches its pods as secretKeyRef env, and no other agent's pods reference a Secret so.
        own = {
            d["metadata"]["name"]: d["spec"]["config"]["exchangeSecret"]
            for d in yaml.safe_load_all(SAMPLES.read_text())
            if d and d["kind"] == "Agent" and "exchangeSecret" in (d["spec"].get("config") or {})
        }
        assert own == {"trader": "demo-trader-keys", "canary": "demo-canary-keys"}
        for a in agents:
            dep_a = get(plane, NS, "deployment", f"{a}-agent") or {}
            pod_spec = dep_a["spec"]["template"]["spec"]
            assert pod_spec["serviceAccountName"] == agent_rbac.service_account(agents[a]), a
            ctr = pod_spec["containers"][0]
            refs = {
                e["valueFrom"]["secretKeyRef"]["name"]
                for e in ctr["env"]
                if "secretKeyRef" in e.get("valueFrom", {})
            }
            assert refs == ({own[a]} if a in own else set()), (a, refs)
        lease = get(plane, NS, "lease", "trader-trader-agent-e2e-0")
        assert lease is not None and lease["spec"]["holderIdentity"], "the trader's own heartbeat Lease"

        def status(name: str) -> dict[str, Any]:
            return dict((get(plane, NS, "agent", name) or {}).get("status") or {})

        def trader_gate() -> str:
            return str(httpx.get(f"http://127.0.0.1:{port}/status", timeout=2).json()["gate"])

        assert status("trader")["effectiveGate"] == "GO"
        wait_for(lambda: trader_gate() == "GO", 30, "the trader runs under GO")
        plane.kubectl("-n", NS, "patch", "agent", "trader", "--type=merge", "-p", '{"spec":{"gate":"PAUSE"}}')
        wait_for(lambda: status("trader").get("effectiveGate") == "PAUSE", 30, "effectiveGate PAUSE")
        wait_for(lambda: trader_gate() == "PAUSE", 30, "the trader applies PAUSE")
        assert status("pipeline").get("effectiveGate") == "GO"  # the flip is scoped to the trader
        events = plane.kubectl(
            "-n", NS, "get", "events", "--field-selector", "involvedObject.name=trader", "-o", "json"
        ).stdout
        assert "GO → PAUSE" in events, "the gate change is recorded as an Event with its reason"
        plane.kubectl("-n", NS, "patch", "agent", "trader", "--type=merge", "-p", '{"spec":{"gate":"GO"}}')
        wait_for(lambda: status("trader").get("effectiveGate") == "GO", 30, "effectiveGate back to GO")
        wait_for(lambda: trader_gate() == "GO", 30, "the trader applies GO again")
    log = (plane.workdir / "op-e2e.log").read_text()
    assert "Forbidden" not in log, log[-3000:]
