"""helm install → the real operator under the chart's RBAC → helm upgrade → helm uninstall.

kwok marks the chart's operator pod Running/Ready without running it; the operator itself runs here as
a subprocess authenticated with a token of the chart's operator ServiceAccount, so the test proves that
the chart's Role/ClusterRole (rendered from quantops_operator.rbac) are enough to run the sample
platform, and each agent role's Role (quantops_operator.agent_rbac) is enough to write its heartbeat
Leases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from controlplane import ControlPlane, operator_process

from cluster.conftest import condition, forbidden_lines, get, heartbeat, wait_for
from quantops_operator import agent_rbac, rbac

from .conftest import CHART, REPO, Helm, agent_pod, as_account, as_pod

pytestmark = pytest.mark.cluster

NS = "qchart"
RELEASE = "qo"
FULLNAME = "qo-quantops"
CRDS = ["agents.quantops.dev", "strategies.quantops.dev", "riskpolicies.quantops.dev"]
SAMPLE_AGENTS = ["venue-sim", "trader", "pipeline", "supervisor"]  # each named after its role


def _adopt_crds(plane: ControlPlane) -> None:
    """The session's CRDs were applied by kubectl: mark them as this release's so helm adopts them."""
    for crd in CRDS:
        plane.kubectl(
            "annotate", "--overwrite", "crd", crd,
            f"meta.helm.sh/release-name={RELEASE}", f"meta.helm.sh/release-namespace={NS}",
        )  # fmt: skip
        plane.kubectl("label", "--overwrite", "crd", crd, "app.kubernetes.io/managed-by=Helm")


@pytest.fixture(scope="module")
def release(crds_installed: ControlPlane, cluster_helm: Helm) -> Iterator[str]:
    plane = crds_installed
    plane.kubectl("create", "namespace", NS)
    plane.kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted")
    _adopt_crds(plane)
    res = cluster_helm(
        "install", RELEASE, str(CHART), "-n", NS, "--wait", "--timeout", "120s",
        "--set", "crds.keep=true", "--set", "operator.resyncSeconds=1",
        # the samples are applied with kubectl below: their demo Secrets must pass admission
        "--set", "admission.exchangeSecrets={demo-trader-keys,demo-canary-keys}",
    )  # fmt: skip
    yield res.stdout
    cluster_helm("uninstall", RELEASE, "-n", NS, "--ignore-not-found", "--wait")


def _deployment(plane: ControlPlane) -> dict[str, Any]:
    dep = get(plane, NS, "deployment", FULLNAME)
    assert dep is not None
    return dep


def _available(plane: ControlPlane) -> bool:
    dep = _deployment(plane)
    status = dep.get("status", {})
    return bool(
        condition(dep, "Available").get("status") == "True"
        and status.get("observedGeneration") == dep["metadata"]["generation"]
        and status.get("updatedReplicas") == 1
        and status.get("replicas") == 1
    )


def _operator_pods(plane: ControlPlane) -> list[dict[str, Any]]:
    sel = "app.kubernetes.io/component=operator"
    pods = json.loads(plane.kubectl("-n", NS, "get", "pods", "-l", sel, "-o", "json").stdout)
    return list(pods["items"])


def test_install_makes_the_operator_deployment_available(crds_installed: ControlPlane, release: str) -> None:
    plane = crds_installed
    wait_for(lambda: _available(plane), 60, "operator Deployment Available")
    for step in ("kubectl -n qchart apply -f -", "kubectl -n qchart get quantops", "patch agent venue-sim"):
        assert step in release  # NOTES.txt: the next commands
    (pod,) = _operator_pods(plane)  # admitted under Pod Security "restricted" (the namespace enforces it)
    assert pod["spec"]["serviceAccountName"] == FULLNAME


def test_installed_network_policy_allows_the_api_ports_only_to_the_api_servers_endpoints(
    crds_installed: ControlPlane, release: str
) -> None:
    """No apiServer.cidrs in the values: the chart read the kubernetes Service's endpoints at install."""
    ep = json.loads(
        crds_installed.kubectl("-n", "default", "get", "endpoints", "kubernetes", "-o", "json").stdout
    )
    ips = sorted(f"{a['ip']}/32" for sub in ep["subsets"] for a in sub["addresses"])
    policy = get(crds_installed, NS, "networkpolicy", f"{FULLNAME}-agents")
    assert policy is not None
    api = [r for r in policy["spec"]["egress"] if any(p["port"] == 6443 for p in r.get("ports", []))]
    assert [sorted(t["ipBlock"]["cidr"] for t in r["to"]) for r in api] == [ips]


def test_installed_role_is_exactly_rbac_py(crds_installed: ControlPlane, release: str) -> None:
    role = get(crds_installed, NS, "role", FULLNAME)
    assert role is not None and role["rules"] == rbac.NAMESPACED_RULES
    cluster_role = get(crds_installed, "", "clusterrole", f"{FULLNAME}-{NS}")
    assert cluster_role is not None and cluster_role["rules"] == rbac.CLUSTER_RULES


def test_operator_runs_the_sample_platform_under_the_charts_rbac(
    crds_installed: ControlPlane, release: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plane = crds_installed
    # the operator process gets the environment the chart gives the operator container
    container = _deployment(plane)["spec"]["template"]["spec"]["containers"][0]
    chart_env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    monkeypatch.setenv("QUANTOPS_AGENT_IMAGE", chart_env["QUANTOPS_AGENT_IMAGE"])
    resync = float(chart_env["QUANTOPS_RESYNC_SECONDS"])
    as_operator = as_account(plane, NS, FULLNAME)
    as_role: dict[str, ControlPlane] = {}  # each agent's pod, by its pod-bound token (once it exists)
    can = lambda who, *a: plane.kubectl(  # noqa: E731
        "auth", "can-i", *a, f"--as=system:serviceaccount:{NS}:{who}", "-n", NS, check=False
    ).stdout.strip()
    for role in agent_rbac.ROLE_RULES:
        account = agent_rbac.service_account(role)
        assert can(account, "watch", "agents.quantops.dev") == "yes"
        assert can(account, "delete", "leases") == "yes"
        assert can(account, "patch", "agents.quantops.dev") == "no"
        assert can(account, "get", "secrets") == "no"
        promotes = can(account, "patch", "strategies.quantops.dev", "--subresource=status")
        assert promotes == ("yes" if role == "pipeline" else "no"), role
        lifts = can(account, "patch", "riskpolicies.quantops.dev")
        assert lifts == ("yes" if role == "canary" else "no"), role
    assert can(FULLNAME, "get", "secrets") == "no"
    with operator_process(
        plane, NS, kubeconfig=as_operator.kubeconfig, resync_seconds=resync, log_name="operator-chart"
    ):
        plane.kubectl("-n", NS, "apply", "-f", str(REPO / "crds" / "samples" / "platform.yaml"))

        def all_ready() -> bool:
            ready = 0
            for agent in SAMPLE_AGENTS:
                if agent not in as_role and (pod := agent_pod(plane, NS, agent)) is not None:
                    as_role[agent] = as_pod(plane, NS, pod, agent_rbac.service_account(agent))
                if agent in as_role:
                    heartbeat(as_role[agent], NS, agent)  # the Lease a replica renews, as its pod
                ready += condition(get(plane, NS, "agent", agent), "Ready").get("status") == "True"
            return ready == len(SAMPLE_AGENTS)

        wait_for(all_ready, 90, "every sample Agent Ready")
        for agent in SAMPLE_AGENTS:
            dep = get(plane, NS, "deployment", f"{agent}-agent")
            assert dep is not None
            assert dep["spec"]["template"]["spec"]["serviceAccountName"] == agent_rbac.service_account(agent)
            assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "quantops/agent:0.1.0"
    log = (plane.workdir / "operator-chart.log").read_text()
    assert not forbidden_lines(log), forbidden_lines(log)[:20]


def test_upgrade_with_a_changed_value_rolls_the_operator(
    crds_installed: ControlPlane, cluster_helm: Helm, release: str
) -> None:
    plane = crds_installed
    before = _deployment(plane)
    old_hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in _operator_pods(plane)}
    cluster_helm(
        "upgrade", RELEASE, str(CHART), "-n", NS, "--reuse-values", "--wait", "--timeout", "120s",
        "--set", "operator.resyncSeconds=3",
    )  # fmt: skip
    wait_for(lambda: _available(plane), 60, "operator Deployment Available after the upgrade")
    after = _deployment(plane)
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    revision = "deployment.kubernetes.io/revision"
    assert int(after["metadata"]["annotations"][revision]) > int(before["metadata"]["annotations"][revision])
    env = {e["name"]: e.get("value") for e in after["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["QUANTOPS_RESYNC_SECONDS"] == "3"

    def template_hashes() -> set[str]:
        return {p["metadata"]["labels"]["pod-template-hash"] for p in _operator_pods(plane)}

    # Recreate: the old ReplicaSet's pod is gone, exactly one pod of the new template runs
    wait_for(lambda: len(template_hashes()) == 1 and template_hashes() != old_hashes, 60, "new operator pod")


def test_uninstall_removes_the_release_and_keeps_the_crds(
    crds_installed: ControlPlane, cluster_helm: Helm, release: str
) -> None:
    plane = crds_installed
    cluster_helm("uninstall", RELEASE, "-n", NS, "--wait")
    for kind, name in [
        ("deployment", FULLNAME),
        ("serviceaccount", FULLNAME),
        *(("serviceaccount", agent_rbac.service_account(role)) for role in agent_rbac.ROLE_RULES),
        ("role", FULLNAME),
        ("rolebinding", FULLNAME),
        *(("role", f"{FULLNAME}-agent-{role}") for role in agent_rbac.ROLE_RULES),
        *(("rolebinding", f"{FULLNAME}-agent-{role}") for role in agent_rbac.ROLE_RULES),
        ("configmap", f"{FULLNAME}-dashboard"),
        ("networkpolicy", FULLNAME),
        ("networkpolicy", f"{FULLNAME}-agents"),
    ]:
        assert get(plane, NS, kind, name) is None, f"{kind}/{name} survived helm uninstall"
    for kind, name in [("clusterrole", f"{FULLNAME}-{NS}"), ("clusterrolebinding", f"{FULLNAME}-{NS}")]:
        assert get(plane, "", kind, name) is None, f"{kind}/{name} survived helm uninstall"
    for crd in CRDS:  # crds.keep=true: helm.sh/resource-policy keep
        obj = get(plane, "", "crd", crd)
        assert obj is not None, f"{crd} was deleted"
        assert obj["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert get(plane, NS, "agent", "trader") is not None  # and with them the Agents
