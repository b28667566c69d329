"""`helm lint --strict` and `helm template`: what the chart renders, checked object by object."""

from __future__ import annotations

import json
from typing import Any

import pytest

from quantops_operator import agent_rbac, rbac

from .conftest import CHART, REPO, VALUES_FILES, Helm, find

pytestmark = pytest.mark.cluster  # needs the helm binary built by hack/build-control-plane.sh


@pytest.mark.parametrize("values", VALUES_FILES, ids=lambda v: v or "defaults")
def test_lint_strict(helm: Helm, values: str) -> None:
    files = ["-f", str(CHART / values)] if values else []
    res = helm("lint", "--strict", str(CHART), *files)
    assert "0 chart(s) failed" in res.stdout, res.stdout


@pytest.mark.parametrize("values", VALUES_FILES, ids=lambda v: v or "defaults")
def test_operator_rbac_is_rendered_from_rbac_py(helm: Helm, values: str) -> None:
    objs = helm.objects(values=values)
    (role,) = find(objs, "Role", "qo-quantops")
    assert role["rules"] == rbac.NAMESPACED_RULES
    (cluster_role,) = find(objs, "ClusterRole", "qo-quantops-quantops")
    assert cluster_role["rules"] == rbac.CLUSTER_RULES
    # one ServiceAccount, Role and RoleBinding per Agent role, each Role exactly that role's verbs
    # (quantops_operator.agent_rbac): no Secret access even in prod, where the exchange keys reach
    # the trader pods as secretKeyRef env vars (the kubelet reads the Secret, not the agent)
    agent_roles = [o for o in find(objs, "Role") if o["metadata"]["name"].startswith("qo-quantops-agent")]
    assert sorted(r["metadata"]["name"] for r in agent_roles) == sorted(
        f"qo-quantops-agent-{role}" for role in agent_rbac.ROLE_RULES
    )
    for role in agent_rbac.ROLE_RULES:
        (agent_role,) = find(objs, "Role", f"qo-quantops-agent-{role}")
        assert agent_role["rules"] == agent_rbac.rules(role), role
        assert not [r for r in agent_role["rules"] if "secrets" in r["resources"]]
        (binding,) = find(objs, "RoleBinding", f"qo-quantops-agent-{role}")
        assert binding["roleRef"]["name"] == f"qo-quantops-agent-{role}"
        account = agent_rbac.service_account(role)
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "quantops"}]
        (sa,) = find(objs, "ServiceAccount", account)
        assert sa["metadata"]["labels"]["quantops.dev/role"] == role


def test_agent_service_accounts_follow_the_values(helm: Helm) -> None:
    objs = helm.objects("--set", "agent.serviceAccount.annotations.example\\.com/role=agents")
    accounts = [
        o for o in find(objs, "ServiceAccount") if o["metadata"]["name"].startswith("quantops-agent-")
    ]
    assert len(accounts) == len(agent_rbac.ROLE_RULES)
    for sa in accounts:
        assert sa["metadata"]["annotations"] == {"example.com/role": "agents"}
        assert "automountServiceAccountToken" not in sa  # as before: the agents need their token
    objs = helm.objects("--set", "agent.serviceAccount.create=false")
    assert not [o for o in find(objs, "ServiceAccount") if o["metadata"]["name"].startswith("quantops-agent")]
    bindings = [o for o in find(objs, "RoleBinding") if "-agent-" in o["metadata"]["name"]]
    assert len(bindings) == len(agent_rbac.ROLE_RULES)  # still bound: to accounts made elsewhere
    objs = helm.objects("--set", "rbac.create=false")
    assert not find(objs, "Role") and not find(objs, "RoleBinding")


def test_operator_deployment(helm: Helm) -> None:
    objs = helm.objects("--set", "agent.image.tag=1.2.3", "--set", "operator.resyncSeconds=4")
    (dep,) = find(objs, "Deployment")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "qo-quantops"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    assert c["image"] == "quantops/operator:0.1.0"  # the tag defaults to appVersion
    assert c["command"] == ["python", "-m", "quantops_operator"]
    assert c["args"] == ["--namespace=$(QUANTOPS_NAMESPACE)", "--liveness=http://0.0.0.0:8080/healthz"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}
    assert env["QUANTOPS_AGENT_IMAGE"] == "quantops/agent:1.2.3"
    assert env["QUANTOPS_RESYNC_SECONDS"] == "4"
    assert env["QUANTOPS_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["ports"] == [{"name": "health", "containerPort": 8080, "protocol": "TCP"}]
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert (
        dep["spec"]["selector"]["matchLabels"].items()
        <= dep["spec"]["template"]["metadata"]["labels"].items()
    )


def test_image_digest_wins_and_fullname_is_63_chars(helm: Helm) -> None:
    objs = helm.objects(values="ci/prod-values.yaml")
    (dep,) = find(objs, "Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "registry.example.com/quantops/operator@sha256:" + "1" * 64
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["QUANTOPS_AGENT_IMAGE"] == "registry.example.com/quantops/agent@sha256:" + "2" * 64
    assert env["QUANTOPS_EXCHANGE_SECRET"] == "quantops-exchange-keys"
    long = helm.objects("--set", "fullnameOverride=" + "x" * 80)
    assert {len(o["metadata"]["name"]) for o in find(long, "Deployment")} == {63}


def _spec_only(crd: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in crd.items() if k != "metadata"}


@pytest.mark.parametrize(("keep", "enabled"), [(True, True), (False, True), (True, False)])
def test_crds_follow_enabled_and_keep(helm: Helm, keep: bool, enabled: bool) -> None:
    sets = ["--set", f"crds.keep={str(keep).lower()}", "--set", f"crds.enabled={str(enabled).lower()}"]
    crds = find(helm.objects(*sets), "CustomResourceDefinition")
    if not enabled:
        assert crds == []
        return
    generated = {
        p.name: json.loads(p.read_text().split("\n", 1)[1]) for p in (REPO / "crds/generated").glob("*")
    }
    assert sorted(c["metadata"]["name"] for c in crds) == sorted(
        g["metadata"]["name"] for g in generated.values()
    )
    by_name = {g["metadata"]["name"]: g for g in generated.values()}
    for crd in crds:
        assert _spec_only(crd) == _spec_only(by_name[crd["metadata"]["name"]])  # byte-for-byte schema
        assert crd["metadata"]["labels"]["app.kubernetes.io/component"] == "crds"
        annotations = crd["metadata"].get("annotations") or {}
        assert (annotations.get("helm.sh/resource-policy") == "keep") is keep


def test_service_monitor_only_when_enabled(helm: Helm) -> None:
    assert find(helm.objects(), "ServiceMonitor") == []
    objs = helm.objects(values="ci/staging-values.yaml")
    (sm,) = find(objs, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert sm["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/managed-by": "quantops-operator"}
    assert sm["spec"]["namespaceSelector"] == {"matchNames": ["quantops"]}
    assert sm["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]


def test_dashboard_panels_use_the_agent_metrics(helm: Helm) -> None:
    (cm,) = find(helm.objects(), "ConfigMap", "qo-quantops-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dash = json.loads(cm["data"]["quantops-agents.json"])
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    for metric in (
        "quantops_agent_heartbeats_total",
        "quantops_agent_effective_gate",
        "quantops_agent_control_errors_total",
        "quantops_agent_uptime_seconds",
    ):
        assert metric in exprs
    assert find(helm.objects("--set", "dashboard.enabled=false"), "ConfigMap") == []


def test_network_policies(helm: Helm) -> None:
    objs = helm.objects(values="ci/prod-values.yaml")
    op, agents = find(objs, "NetworkPolicy", "qo-quantops"), find(objs, "NetworkPolicy", "qo-quantops-agents")
    assert len(op) == 1 and len(agents) == 1
    assert op[0]["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}]}]
    spec = agents[0]["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/managed-by": "quantops-operator"}
    egress_ports = [{p["port"] for p in rule.get("ports", [])} for rule in spec["egress"]]
    assert {53} <= egress_ports[0] and egress_ports[1] == {443, 6443}
    assert spec["egress"][1]["to"] == [{"ipBlock": {"cidr": "10.96.0.1/32"}}]
    venues = spec["egress"][-1]
    assert venues["to"] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}, {"ipBlock": {"cidr": "198.51.100.0/24"}}]
    assert find(helm.objects(values="ci/dev-values.yaml"), "NetworkPolicy") == []


def test_network_policies_are_closed_by_default(helm: Helm) -> None:
    """Default values, rendered offline: metrics only from the monitoring namespace, and no egress
    rule but DNS reaches any destination — the API ports only the private ranges (at install the
    cluster's own API endpoints replace them), so a public venue needs an explicit venueCIDRs."""
    (agents,) = find(helm.objects(), "NetworkPolicy", "qo-quantops-agents")
    spec = agents["spec"]
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    assert spec["ingress"][0]["from"] == [monitoring]
    for rule in spec["egress"]:
        ports = {p["port"] for p in rule.get("ports", [])}
        assert "to" in rule or ports == {53}, rule
    api = next(r for r in spec["egress"] if {p["port"] for p in r.get("ports", [])} == {443, 6443})
    assert [t["ipBlock"]["cidr"] for t in api["to"]] == [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
    ]


def test_samples_toggle(helm: Helm) -> None:
    assert find(helm.objects(), "Agent") == []
    objs = helm.objects(values="ci/dev-values.yaml")
    agents = find(objs, "Agent")
    names = {a["metadata"]["name"] for a in agents}
    assert names == {"venue-sim", "trader", "pipeline", "supervisor", "canary"}
    for obj in agents + find(objs, "Strategy") + find(objs, "RiskPolicy"):
        assert obj["metadata"]["annotations"]["helm.sh/hook"] == "post-install"
        assert obj["metadata"]["namespace"] == "quantops"
    # the demo accounts' keys: made by the chart (random), named by the samples, never in a spec
    named = {a["spec"]["config"]["exchangeSecret"] for a in agents if "exchangeSecret" in a["spec"]["config"]}
    demo = {s["metadata"]["name"]: s for s in find(objs, "Secret") if s["metadata"]["name"] in named}
    assert set(demo) == named == {"demo-trader-keys", "demo-canary-keys"}
    assert all(set(s["data"]) == {"apiKey", "secret"} for s in demo.values())
    assert not [s for s in find(helm.objects(), "Secret") if s["metadata"]["name"] in named]


@pytest.mark.parametrize(
    ("flag", "error"),
    [
        ("operator.replicaCount=2", "maximum"),
        ("operatr.replicaCount=1", "additional properties"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("networkPolicy.enabled=maybe", "boolean"),
    ],
)
def test_schema_rejects_bad_values(helm: Helm, flag: str, error: str) -> None:
    res = helm("template", "qo", str(CHART), "--set", flag, check=False)
    assert res.returncode != 0 and error in res.stderr, res.stderr
