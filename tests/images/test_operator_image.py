"""The operator image, and both images together against the real API server (kwok nodes).

The operator container reconciles an Agent into its Deployment; an agent container (the agent image,
KubeControl with the plane's kubeconfig over the host network) renews its Lease and applies a gate
flipped with `kubectl patch`. Only the Deployment's pods are fake (kwok): both programs are the images.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from controlplane import ControlPlane, free_port

from quantops_operator import agent_rbac

from .conftest import Container, Images, docker, wait_http
from .test_agent_image import HARDENED

pytestmark = pytest.mark.cluster


def test_operator_image_prints_its_usage(images: Images) -> None:
    res = docker("run", "--rm", *HARDENED, images.operator, "--help")
    assert res.stdout.startswith("usage: quantops-operator")
    assert "--namespace" in res.stdout and "--liveness" in res.stdout
    assert docker("run", "--rm", "--entrypoint", "id", images.operator, "-u").stdout.strip() == "10001"


def _get(plane: ControlPlane, ns: str, kind: str, name: str) -> dict[str, Any] | None:
    res = plane.kubectl("-n", ns, "get", kind, name, "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


def _wait(pred: Callable[[], Any], what: str, timeout: float = 60.0, logs: Callable[[], str] = str) -> Any:
    import time

    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}\n{logs()[-3000:]}")


def test_operator_and_agent_images_against_the_real_api_server(
    images: Images,
    crds_installed: ControlPlane,
    container_kubeconfig: list[str],
    run_container: Callable[..., Container],
) -> None:
    plane = crds_installed
    ns = f"img-{uuid.uuid4().hex[:6]}"
    plane.kubectl("create", "namespace", ns)
    plane.kubectl("-n", ns, "create", "serviceaccount", agent_rbac.service_account("trader"))
    # agents fail closed without a global RiskPolicy (a missing gate object reads as PAUSE)
    glob = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "RiskPolicy",
        "metadata": {"name": "global"},
        "spec": {},
    }
    plane.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(glob))
    op_port = free_port()
    operator = run_container(
        *HARDENED,
        *container_kubeconfig,
        "-e",
        "QUANTOPS_RESYNC_SECONDS=1",
        "-e",
        f"QUANTOPS_AGENT_IMAGE={images.agent}",
        images.operator,
        "--namespace",
        ns,
        "--liveness",
        f"http://127.0.0.1:{op_port}/healthz",
    )
    assert wait_http(f"http://127.0.0.1:{op_port}/healthz", 90, operator).status_code == 200

    name = "trader-img"
    agent = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name},
        "spec": {"role": "trader", "heartbeatSeconds": 1},
    }
    plane.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(agent))
    dep = _wait(
        lambda: _get(plane, ns, "deployment", f"{name}-agent"),
        "the operator's Deployment",
        logs=operator.logs,
    )
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == images.agent  # QUANTOPS_AGENT_IMAGE reached the operator in the image
    assert container["args"] == ["--role", "trader", "--agent", name]

    # The agent image with exactly the pod's args, as the kubelet would start it.
    port = free_port()
    replica = f"{name}-pod-0"
    ag = run_container(
        *HARDENED,
        *container_kubeconfig,
        "-e",
        f"POD_NAMESPACE={ns}",
        "-e",
        f"POD_NAME={replica}",
        images.agent,
        *container["args"],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    )
    wait_http(f"http://127.0.0.1:{port}/healthz", 60, ag)
    lease = _wait(lambda: _get(plane, ns, "lease", f"{name}-{replica}"), "the agent's Lease", logs=ag.logs)
    assert lease["metadata"]["labels"]["quantops.dev/agent"] == name

    def gate() -> str:
        return str(httpx.get(f"http://127.0.0.1:{port}/status", timeout=2).json()["gate"])

    _wait(lambda: gate() == "GO", "the agent sees GO", logs=ag.logs)
    plane.kubectl("-n", ns, "patch", "agent", name, "--type=merge", "-p", '{"spec":{"gate":"PAUSE"}}')
    _wait(lambda: gate() == "PAUSE", "the agent applies PAUSE", logs=ag.logs)
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    assert 'quantops_agent_effective_gate{gate="PAUSE"} 1.0' in metrics

    docker("stop", "-t", "20", ag.cid, timeout=60)
    assert ag.inspect()["State"]["ExitCode"] == 0
    assert _get(plane, ns, "lease", f"{name}-{replica}") is None  # released on SIGTERM
    plane.kubectl("delete", "namespace", ns, "--wait=false")
