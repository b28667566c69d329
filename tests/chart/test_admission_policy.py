"""The chart's ValidatingAdmissionPolicy on the real API server: in the release namespace an Agent
may run only an allowed image and name only an allowed exchange Secret; anything else is refused,
naming the field. Other namespaces are not bound.

Attack (issue 16): anyone allowed to create an Agent could run any image as an agent, or name any
Secret of the namespace in ``spec.config.exchangeSecret`` and have the operator hand it to the pods.
On main before the policy both were accepted: these tests fail there.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from controlplane import ControlPlane

from cluster.conftest import wait_for

from .conftest import CHART, Helm, find

pytestmark = pytest.mark.cluster

NS = "qadm"
PROD_IMAGE = "registry.example.com/quantops/agent@sha256:" + "2" * 64


def _agent(ns: str, spec: dict[str, Any]) -> str:
    meta = {"name": "a", "namespace": ns}
    body = {"apiVersion": "quantops.dev/v1alpha1", "kind": "Agent", "metadata": meta}
    return json.dumps({**body, "spec": {"role": "trader", **spec}})


@pytest.fixture(scope="module")
def installed(crds_installed: ControlPlane, cluster_helm: Helm) -> Iterator[ControlPlane]:
    plane = crds_installed
    plane.kubectl("create", "namespace", NS)
    cluster_helm(
        "install", "adm", str(CHART), "-n", NS, "-f", str(CHART / "ci" / "prod-values.yaml"),
        "--set", "crds.enabled=false", "--set", "metrics.serviceMonitor.enabled=false",
    )  # fmt: skip
    try:
        yield plane
    finally:
        cluster_helm("uninstall", "adm", "-n", NS, "--ignore-not-found", "--wait")
        plane.kubectl("delete", "namespace", NS, "--wait=false")


def _apply(plane: ControlPlane, ns: str, spec: dict[str, Any]) -> Any:
    return plane.kubectl("apply", "--dry-run=server", "-f", "-", input=_agent(ns, spec), check=False)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"image": "evil.example.com/miner:latest"}, "spec.image: evil.example.com/miner:latest is not"),
        ({"image": "registry.example.com/quantops/agent:0.1.0"}, "spec.image"),  # prod wants a digest
        ({"config": {"exchangeSecret": "someone-elses-keys"}}, "spec.config.exchangeSecret: Secret"),
    ],
)
def test_the_policy_refuses_what_the_release_does_not_allow(
    installed: ControlPlane, spec: dict[str, Any], field: str
) -> None:
    # the policy takes effect once the API server has loaded it: the first refusal is awaited
    res = wait_for(lambda: (r := _apply(installed, NS, spec)).returncode != 0 and r, 30, "policy in force")
    assert field in res.stderr and "in this namespace" in res.stderr, res.stderr


def test_the_policy_admits_what_the_release_allows_and_binds_its_namespace_only(
    installed: ControlPlane,
) -> None:
    wait_for(lambda: _apply(installed, NS, {"image": "evil.example.com/x:1"}).returncode != 0, 30, "in force")
    ok = {"image": PROD_IMAGE, "config": {"exchangeSecret": "quantops-exchange-keys"}}
    res = _apply(installed, NS, ok)
    assert res.returncode == 0, res.stderr
    assert _apply(installed, NS, {}).returncode == 0  # the operator's default image, the chart's Secret
    res = _apply(installed, "default", {"image": "evil.example.com/x:1"})
    assert res.returncode == 0, res.stderr  # another namespace: not this release's to police


def test_dev_values_allow_the_samples_applied_by_hand(helm: Helm) -> None:
    """The README applies crds/samples/platform.yaml with kubectl after a dev install without the
    chart's samples: their demo Secrets must be allowed, and nothing else is."""
    objs = helm.objects("--set", "samples.enabled=false", values="ci/dev-values.yaml")
    (policy,) = [p for p in find(objs, "ValidatingAdmissionPolicy") if "lease" not in p["metadata"]["name"]]
    secret_rule = policy["spec"]["validations"][1]["expression"]
    assert secret_rule.endswith("in ['demo-trader-keys','demo-canary-keys']"), secret_rule
    (prod,) = [
        p
        for p in find(helm.objects(values="ci/prod-values.yaml"), "ValidatingAdmissionPolicy")
        if "lease" not in p["metadata"]["name"]
    ]
    assert prod["spec"]["validations"][0]["expression"].startswith(
        "!has(object.spec.image) || ['registry.example.com/quantops/agent@sha256:']"
    )


# -- Leases: an agent pod writes only its own agent's ---------------------------------------------
def _agent_pod(plane: ControlPlane, agent: str, role: str) -> tuple[str, str]:
    """A pod named as the operator's Deployment names it, with its role's account; its bound token."""
    name = f"{agent}-agent-5d9c7b-x{role[:3]}"
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
        "spec": {"serviceAccountName": f"quantops-agent-{role}",
                 "containers": [{"name": "agent", "image": "quantops/agent:dev"}]},
    }  # fmt: skip
    plane.kubectl("apply", "-f", "-", input=json.dumps(pod))
    uid = json.loads(plane.kubectl("-n", NS, "get", "pod", name, "-o", "json").stdout)["metadata"]["uid"]
    token = plane.kubectl(
        "-n", NS, "create", "token", f"quantops-agent-{role}", "--duration=1h",
        "--bound-object-kind=Pod", f"--bound-object-name={name}", f"--bound-object-uid={uid}",
    ).stdout.strip()  # fmt: skip
    return name, token


def _write_lease(plane: ControlPlane, token: str, name: str, labels: dict[str, str]) -> httpx.Response:
    """Server-side apply of a Lease, as the agents renew theirs (a create when it is missing)."""
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"holderIdentity": "x", "leaseDurationSeconds": 15}}  # fmt: skip
    with httpx.Client(
        base_url=plane.server, verify=ssl.create_default_context(cafile=str(plane.ca_file)),
        headers={"Authorization": f"Bearer {token}"}, timeout=10,
    ) as http:  # fmt: skip
        return http.patch(
            f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{name}",
            params={"fieldManager": "agent", "force": "true"},
            content=json.dumps(body),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )


def test_an_agent_pod_writes_only_its_own_agents_leases(installed: ControlPlane) -> None:
    """Attack (issue 16): RBAC cannot restrict Lease ``create`` by name, so any agent account could
    forge the trader's heartbeat or take its single-writer Lease. The chart's policy reads the
    asking pod from its bound token: a venue-sim pod writes venue-sim's Leases and nobody else's."""
    plane = installed
    trader_pod, trader = _agent_pod(plane, "trader", "trader")
    _, venue = _agent_pod(plane, "venue-sim", "venue-sim")
    _, pipeline = _agent_pod(plane, "pipeline", "pipeline")
    forged = lambda: _write_lease(plane, venue, "trader-writer", {})  # noqa: E731
    res = wait_for(lambda: (r := forged()).status_code == 403 and r, 30, "the lease policy in force")
    assert "agent venue-sim may write only its own Leases" in res.text, res.text
    heartbeat = {"quantops.dev/agent": "trader"}
    assert _write_lease(plane, venue, f"trader-{trader_pod}", heartbeat).status_code == 403
    # its own: heartbeat and writer Lease; the pipeline's shared work-item claims
    assert _write_lease(plane, venue, "venue-sim-p1", {"quantops.dev/agent": "venue-sim"}).is_success
    assert _write_lease(plane, trader, f"trader-{trader_pod}", heartbeat).is_success
    assert _write_lease(plane, trader, "trader-writer", {}).is_success
    claim = {"quantops.dev/pipeline-claim": "true"}
    assert _write_lease(plane, pipeline, "qp-claim-momo", claim).is_success
    assert _write_lease(plane, trader, "qp-claim-momo", claim).status_code == 403
    # relabelling another agent's Lease as one's own is refused too
    res = _write_lease(plane, venue, f"trader-{trader_pod}", {"quantops.dev/agent": "venue-sim"})
    assert res.status_code == 403, res.text
    # a token not bound to a pod (the account's own, as `kubectl create token` makes) writes none
    unbound = plane.kubectl("-n", NS, "create", "token", "quantops-agent-venue-sim").stdout.strip()
    res = _write_lease(plane, unbound, "venue-sim-p1", {"quantops.dev/agent": "venue-sim"})
    assert res.status_code == 403 and "only from an agent pod" in res.text, res.text
