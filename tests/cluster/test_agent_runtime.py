"""The real agent runtime process against the real API server: Lease heartbeats and gate watches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from controlplane import ControlPlane, free_port

from .conftest import apply_agent, get, unique, wait_for

pytestmark = pytest.mark.cluster


GLOBAL_GO = json.dumps(
    {"apiVersion": "quantops.dev/v1alpha1", "kind": "RiskPolicy", "metadata": {"name": "global"}, "spec": {}}
)


@pytest.fixture
def runtime_ns(crds_installed: ControlPlane) -> Iterator[str]:
    """A namespace of its own (its `global` RiskPolicy is the test's to delete), with one at GO."""
    ns = unique("rt")
    crds_installed.kubectl("create", "namespace", ns)
    crds_installed.kubectl("-n", ns, "apply", "-f", "-", input=GLOBAL_GO)
    yield ns
    crds_installed.kubectl("delete", "namespace", ns, "--wait=false")


@pytest.fixture
def runtime_agent(
    crds_installed: ControlPlane, runtime_ns: str, tmp_path: Path
) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    plane, ns = crds_installed, runtime_ns
    name = unique("rt")
    apply_agent(plane, ns, name, heartbeatSeconds=1)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"heartbeatSeconds": 1, "apiLossGraceSeconds": 3, "strategies": []}))
    port = free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(plane.kubeconfig),
        "POD_NAMESPACE": ns,
        "POD_NAME": f"{name}-pod-0",
    }
    env.pop("QUANTOPS_CONTROL_URL", None)
    log = (tmp_path / "agent.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "quantops_trading.runtime",
            "--role",
            "trader",
            "--agent",
            name,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            str(cfg),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield name, port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        log.close()


def test_agent_renews_its_lease_and_applies_gate_flips(
    crds_installed: ControlPlane, runtime_ns: str, runtime_agent: tuple[str, int, subprocess.Popen[bytes]]
) -> None:
    plane, ns = crds_installed, runtime_ns
    name, port, _ = runtime_agent
    lease = wait_for(lambda: get(plane, ns, "lease", f"{name}-{name}-pod-0"), 30, "agent lease")
    assert lease["metadata"]["labels"]["quantops.dev/agent"] == name
    first = lease["spec"]["renewTime"]
    wait_for(
        lambda: (get(plane, ns, "lease", f"{name}-{name}-pod-0") or {})["spec"]["renewTime"] != first,
        10,
        "lease renewal",
    )
    status = lambda: httpx.get(f"http://127.0.0.1:{port}/status", timeout=2).json()  # noqa: E731
    wait_for(lambda: status()["gate"] == "GO", 20, "agent sees GO")
    t0 = time.monotonic()
    plane.kubectl("-n", ns, "patch", "agent", name, "--type=merge", "-p", '{"spec":{"gate":"PAUSE"}}')
    wait_for(lambda: status()["gate"] == "PAUSE", 1.0, "gate flip applied by the agent within a second")
    print(
        f"kubectl patch -> agent applied: {(time.monotonic() - t0) * 1000:.0f} ms (kubectl process included)"
    )
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    assert 'quantops_agent_effective_gate{gate="PAUSE"} 1.0' in metrics
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200


def test_a_deleted_global_policy_pauses_the_agent_instead_of_lifting_its_stop(
    crds_installed: ControlPlane, runtime_ns: str, runtime_agent: tuple[str, int, subprocess.Popen[bytes]]
) -> None:
    """Before: a DELETED gate object read as GO, so deleting a STOPped global policy lifted the stop."""
    plane, ns = crds_installed, runtime_ns
    _, port, _ = runtime_agent

    def status() -> dict[str, object]:
        try:
            return dict(httpx.get(f"http://127.0.0.1:{port}/status", timeout=2).json())
        except httpx.HTTPError:
            return {}  # not serving yet

    wait_for(lambda: status().get("gate") == "GO", 30, "agent sees GO")
    plane.kubectl("-n", ns, "patch", "riskpolicy", "global", "--type=merge", "-p", '{"spec":{"gate":"STOP"}}')
    wait_for(lambda: status()["gate"] == "STOP", 5, "agent applies STOP")
    plane.kubectl("-n", ns, "delete", "riskpolicy", "global")
    wait_for(lambda: status()["gate"] == "PAUSE", 5, "a missing global policy reads as PAUSE")
    assert status()["gateSource"] == "RiskPolicy/global"
    plane.kubectl("-n", ns, "apply", "-f", "-", input=GLOBAL_GO)
    wait_for(lambda: status()["gate"] == "GO", 5, "agent back to GO once the policy exists")


def test_sigterm_releases_the_lease(
    crds_installed: ControlPlane, runtime_ns: str, runtime_agent: tuple[str, int, subprocess.Popen[bytes]]
) -> None:
    plane, ns = crds_installed, runtime_ns
    name, _, proc = runtime_agent
    wait_for(lambda: get(plane, ns, "lease", f"{name}-{name}-pod-0"), 30, "agent lease")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert get(plane, ns, "lease", f"{name}-{name}-pod-0") is None  # released, not left to expire
