"""The chart's ValidatingAdmissionPolicy on the real API server: in the release namespace an Agent
may run only an allowed image and name only an allowed exchange Secret; anything else is refused,
naming the field. Other namespaces are not bound.

Attack (issue 16): anyone allowed to create an Agent could run any image as an agent, or name any
Secret of the namespace in ``spec.config.exchangeSecret`` and have the operator hand it to the pods.
On main before the policy both were accepted: these tests fail there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

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
    (policy,) = find(objs, "ValidatingAdmissionPolicy")
    secret_rule = policy["spec"]["validations"][1]["expression"]
    assert secret_rule.endswith("in ['demo-trader-keys','demo-canary-keys']"), secret_rule
    (prod,) = find(helm.objects(values="ci/prod-values.yaml"), "ValidatingAdmissionPolicy")
    assert prod["spec"]["validations"][0]["expression"].startswith(
        "!has(object.spec.image) || ['registry.example.com/quantops/agent@sha256:']"
    )
