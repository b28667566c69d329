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


@pytest.fixture
def runtime_agent(
    crds_installed: ControlPlane, operator: str, tmp_path: Path
) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    plane, ns = crds_installed, operator
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
    crds_installed: ControlPlane, operator: str, runtime_agent: tuple[str, int, subprocess.Popen[bytes]]
) -> None:
    plane, ns = crds_installed, operator
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


def test_sigterm_releases_the_lease(
    crds_installed: ControlPlane, operator: str, runtime_agent: tuple[str, int, subprocess.Popen[bytes]]
) -> None:
    plane, ns = crds_installed, operator
    name, _, proc = runtime_agent
    wait_for(lambda: get(plane, ns, "lease", f"{name}-{name}-pod-0"), 30, "agent lease")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert get(plane, ns, "lease", f"{name}-{name}-pod-0") is None  # released, not left to expire
