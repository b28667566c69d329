"""Cluster-test fixtures: the operator running in-process (kopf's KopfRunner) against the real plane."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from controlplane import ControlPlane, free_port


@pytest.fixture(scope="session")
def operator(crds_installed: ControlPlane) -> Iterator[str]:
    """The operator (`python -m quantops_operator`) watching namespace `ops`, for the whole session.

    A subprocess rather than kopf's in-thread KopfRunner: CPython 3.11's parser is not safe
    against concurrent imports from two threads, and a real process is what ships anyway.
    """
    k = crds_installed.kubectl
    k("create", "namespace", "ops")
    k("-n", "ops", "create", "serviceaccount", "quantops-agent")
    env = {**os.environ, "KUBECONFIG": str(crds_installed.kubeconfig), "QUANTOPS_RESYNC_SECONDS": "1"}
    port = free_port()
    log = open(crds_installed.workdir / "operator.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "quantops_operator",
            "--namespace",
            "ops",
            "--liveness",
            f"http://127.0.0.1:{port}/healthz",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _alive(port) or proc.poll() is not None, 60, "operator liveness")
        assert proc.poll() is None, (crds_installed.workdir / "operator.log").read_text()[-3000:]
        yield "ops"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        print((crds_installed.workdir / "operator.log").read_text()[-5000:])


def _alive(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return int(r.status) == 200
    except OSError:
        return False


def wait_for(pred: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def get(plane: ControlPlane, ns: str, kind: str, name: str) -> dict[str, Any] | None:
    res = plane.kubectl("-n", ns, "get", kind, name, "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


def heartbeat(
    plane: ControlPlane,
    ns: str,
    agent: str,
    *,
    replica: str = "0",
    queue: int = 0,
    open_orders: int = 0,
    health: str = "ok",
    at: dt.datetime | None = None,
) -> None:
    """Write the Lease an agent replica renews (what the agent runtime does every 5 s)."""
    now = (at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": f"{agent}-{replica}",
            "namespace": ns,
            "labels": {"quantops.dev/agent": agent},
            "annotations": {
                "quantops.dev/queue-length": str(queue),
                "quantops.dev/open-orders": str(open_orders),
                "quantops.dev/health": health,
            },
        },
        "spec": {"holderIdentity": f"{agent}-{replica}", "leaseDurationSeconds": 15, "renewTime": now},
    }
    plane.kubectl("apply", "-f", "-", input=json.dumps(lease))


def apply_agent(plane: ControlPlane, ns: str, name: str, **spec: object) -> None:
    """Apply an Agent (role trader unless given) the way a user would: kubectl apply of a manifest."""
    body = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name},
        "spec": {"role": "trader", **spec},
    }
    plane.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(body))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"
