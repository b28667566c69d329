"""The chart with its production values on real pods: restricted pod security, NetworkPolicies,
exchange keys from an existing Secret — the operator runs, and a trader pod starts with its keys
from the Secret (resolved by the kubelet, never read by the operator or written to a spec).

Overrides only what cannot exist here: the registry images (the locally built ones, by tag), the
pull secret and the ServiceMonitor (no prometheus-operator CRD); CRDs belong to the other release.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from controlplane import build_binaries

from cluster.conftest import wait_for

from .conftest import STORAGE_CLASS, describe, ensure_default_service_account, get_json, pod_ready

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "quantops"
NS = "trading-prod"
SECRET = "quantops-exchange-keys"  # what ci/prod-values.yaml names


def _helm(node: Any, *args: str) -> None:
    binary = os.environ.get("HELM") or str(build_binaries() / "helm")
    res = subprocess.run(
        [binary, "--kubeconfig", str(node.kubeconfig), *args], text=True, capture_output=True, timeout=600
    )
    assert res.returncode == 0, f"helm {' '.join(args)}:\n{res.stderr}{res.stdout}"


@pytest.fixture(scope="module")
def prod(real_node: Any) -> Iterator[Any]:
    k = real_node.kubectl
    # the CRDs: another release may own them (the platform scenario's), so not this one
    k("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds" / "generated"))
    k("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    k("create", "namespace", NS)
    k("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted")
    ensure_default_service_account(real_node, NS)
    k(
        "-n",
        NS,
        "create",
        "secret",
        "generic",
        SECRET,
        "--from-literal=apiKey=prod-key",
        "--from-literal=secret=s3cr3t-value",
    )
    _helm(
        real_node, "install", "quantops-prod", str(CHART), "-n", NS,
        "-f", str(CHART / "ci" / "prod-values.yaml"),
        "--set", "crds.enabled=false",
        "--set", "image.repository=quantops/operator,image.tag=dev,image.digest=",
        "--set", "agent.image.repository=quantops/agent,agent.image.tag=dev,agent.image.digest=",
        "--set", "imagePullSecrets=null",
        "--set", "metrics.serviceMonitor.enabled=false",
        "--set", f"agent.state.storageClassName={STORAGE_CLASS}",
        "--wait", "--timeout", "180s",
    )  # fmt: skip
    try:
        yield real_node
    finally:
        print(describe(real_node, NS))
        k("delete", "namespace", NS, "--wait=false", check=False)


def test_production_values_run_the_operator_under_restricted_pod_security(prod: Any) -> None:
    pods = json.loads(prod.kubectl("-n", NS, "get", "pods", "-o", "json").stdout)["items"]
    (op,) = [p for p in pods if p["metadata"]["labels"].get("app.kubernetes.io/name") == "quantops"]
    assert pod_ready(op)
    policies = json.loads(prod.kubectl("-n", NS, "get", "networkpolicies", "-o", "json").stdout)["items"]
    assert policies, "prod values render default-deny NetworkPolicies"


def test_a_trader_gets_its_exchange_keys_from_the_secret_not_from_its_spec(prod: Any) -> None:
    agent = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": "trader"},
        "spec": {"role": "trader", "config": {"notionalPerStrategy": 100}},
    }
    global_policy = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "RiskPolicy",
        "metadata": {"name": "global"},
        "spec": {},
    }
    prod.kubectl(
        "-n",
        NS,
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [global_policy, agent]}),
    )

    def trader_pod() -> dict[str, Any] | None:
        items = json.loads(
            prod.kubectl("-n", NS, "get", "pods", "-l", "quantops.dev/agent=trader", "-o", "json").stdout
        )["items"]
        return items[0] if items and pod_ready(items[0]) else None

    try:
        pod = wait_for(trader_pod, 120, "the trader pod Ready under restricted pod security")
    except AssertionError:
        raise AssertionError(describe(prod, NS)) from None
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    ref = env["QUANTOPS_EXCHANGE_API_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": SECRET, "key": "secret", "optional": False}
    claim = get_json(prod, "-n", NS, "pvc", "trader-state")
    assert claim is not None and claim["status"]["phase"] == "Bound"
    # the secret reaches the process (the kubelet resolved it) and nothing the API stores
    name = pod["metadata"]["name"]
    res = prod.kubectl(
        "-n",
        NS,
        "exec",
        name,
        "-c",
        "agent",
        "--",
        "sh",
        "-c",
        'test "$QUANTOPS_EXCHANGE_API_SECRET" = s3cr3t-value',
    )
    assert res.returncode == 0, res.stderr
    for kind in ("agent", "configmap", "deployment", "pod"):
        dump = prod.kubectl("-n", NS, "get", kind, "-o", "json").stdout
        assert "s3cr3t-value" not in dump, f"the secret leaked into a {kind}"
