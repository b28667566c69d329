"""Real-node fixtures: a control plane plus one real kubelet node (hack/realnode.py) per session.

The node runs the project's images in containerd (Debian's 1.6) with runc, CNI on a private pod
bridge, kube-proxy in iptables mode: probes, restarts, logs/exec, Services and volumes are real.
Like the kwok plane, it never skips: if anything cannot be built or started, every test that uses
it fails with the reason (and later ones fail fast with the first reason).

This test package is named `realnode`, so the hack module is loaded as `quantops_realnode`
(RealNode, POD_CIDR, ... are re-exported here: `from realnode.conftest import RealNode`).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from controlplane import build_binaries

REPO = Path(__file__).resolve().parents[2]


def _load_realnode() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quantops_realnode", REPO / "hack" / "realnode.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["quantops_realnode"] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


rn = _load_realnode()
RealNode = rn.RealNode
NODE_NAME: str = rn.NODE_NAME
POD_CIDR: str = rn.POD_CIDR
SERVICE_CIDR: str = rn.SERVICE_CIDR
GATEWAY: str = rn.GATEWAY
STORAGE_CLASS: str = rn.STORAGE_CLASS

_NODE_ERROR: list[str] = []


@pytest.fixture(scope="session")
def real_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A started RealNode (plane + containerd + kubelet + kube-proxy), node Ready, images imported."""
    if _NODE_ERROR:
        pytest.fail(f"real node unavailable: {_NODE_ERROR[0]}")
    try:
        res = subprocess.run(
            ["bash", str(REPO / "hack" / "build-images.sh")],
            text=True,
            capture_output=True,
            timeout=1800,
        )
        if res.returncode != 0:
            raise RuntimeError(f"hack/build-images.sh failed ({res.returncode}):\n{res.stderr[-4000:]}")
        node = RealNode(
            workdir=tmp_path_factory.mktemp("realnode"),
            cp_bin=build_binaries(),
            node_bin=rn.build_node_binaries(),
        )
        node.start()  # stops whatever it started when it fails
    except Exception as e:  # fail (never skip) every real-node test with the real reason
        _NODE_ERROR.append(repr(e))
        pytest.fail(f"real node could not start: {e!r}")
    print(f"real node up: {node.timings}")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def namespace(real_node: Any) -> Iterator[str]:
    """A fresh namespace on the real node's plane (deleted, without waiting, afterwards)."""
    ns = f"rn-{uuid.uuid4().hex[:8]}"
    real_node.kubectl("create", "namespace", ns)
    ensure_default_service_account(real_node, ns)
    try:
        yield ns
    finally:
        real_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def ensure_default_service_account(node: Any, ns: str) -> None:
    """Pods need the namespace's `default` ServiceAccount. kube-controller-manager creates it, but
    not on a schedule a test can rely on: after the scenario restarts the API server its informers
    re-list, and in one CI run the account had not appeared 30 s later. Creating it is what the
    controller would do (it leaves an existing one alone), so the tests do not wait on that."""
    res = node.kubectl("-n", ns, "create", "serviceaccount", "default", check=False)
    assert res.returncode == 0 or "already exists" in res.stderr, res.stderr


def get_json(node: Any, *args: str) -> dict[str, Any] | None:
    """`kubectl get ... -o json`, None when it does not exist."""
    res = node.kubectl("get", *args, "-o", "json", check=False)
    return dict(json.loads(res.stdout)) if res.returncode == 0 else None


def pod_ready(pod: dict[str, Any] | None) -> bool:
    conds = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def describe(node: Any, namespace: str) -> str:
    """Pods, events and the last kubelet log lines: what a failing real-node test should print."""
    pods = node.kubectl("-n", namespace, "get", "pods", "-o", "wide", check=False).stdout
    events = node.kubectl("-n", namespace, "get", "events", "--sort-by=.lastTimestamp", check=False).stdout
    tail = getattr(node, "tail", None)  # a RealNode; wrappers of it may not have it
    kubelet = tail("kubelet", 2000) if callable(tail) else "(no kubelet log at hand)"
    return f"{pods}\n{events[-3000:]}\nkubelet:\n{kubelet}"
