"""Deployment/ConfigMap/Service builders: template hash, hardened pods, graceful shutdown, config."""

from __future__ import annotations

import json
from typing import Any

import pytest

from quantops_api import Agent
from quantops_operator.resources import deployments
from quantops_operator.resources.names import ANN_CONFIG_HASH, ANN_RESTARTED_AT, ANN_TEMPLATE_HASH


def make_agent(**spec: Any) -> Agent:
    return Agent.model_validate(
        {
            "apiVersion": "quantops.dev/v1alpha1",
            "kind": "Agent",
            "metadata": {"name": "a", "uid": "u1", "generation": 1},
            "spec": {"role": "pipeline", **spec},
        }
    )


def thash(
    agent: Agent, replicas: int = 1, image: str = deployments.DEFAULT_IMAGE, restarted: str | None = None
) -> str:
    dep = deployments.deployment(agent, replicas, image, restarted)
    return str(dep["metadata"]["annotations"][ANN_TEMPLATE_HASH])


def test_template_hash_is_deterministic() -> None:
    assert thash(make_agent()) == thash(make_agent())
    tpl = deployments.pod_template(make_agent(), "img", None)
    dep = deployments.deployment(make_agent(), 1, "img")
    assert dep["metadata"]["annotations"][ANN_TEMPLATE_HASH] == deployments.template_hash(tpl)
    # the pods carry it too: the operator judges only the pods of the template in force
    pod_annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert pod_annotations[ANN_TEMPLATE_HASH] == thash(make_agent(), image="img")
    assert deployments.current_template_hash(dep) == thash(make_agent(), image="img")
    assert deployments.current_template_hash(None) is None
    assert deployments.current_template_hash({"metadata": {}}) is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({}, {"image": "quantops/agent:v2"}),
        ({"image": "x:1"}, {"image": "x:2"}),
        ({}, {"probes": {"port": 9090}}),
        ({}, {"probes": {"livenessPath": "/live"}}),
        ({}, {"probes": {"periodSeconds": 10}}),
        ({}, {"shutdown": {"preStopSleepSeconds": 5}}),
        ({}, {"shutdown": {"terminationGraceSeconds": 60}}),
    ],
)
def test_template_hash_changes_with_image_probes_shutdown(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert thash(make_agent(**a)) != thash(make_agent(**b))


def test_template_hash_changes_with_operator_default_image_and_restart_annotation() -> None:
    agent = make_agent()
    assert thash(agent, image="quantops/agent:v1") != thash(agent, image="quantops/agent:v2")
    assert thash(agent, restarted="2030-01-01T00:00:00+00:00") != thash(agent)
    # spec.image wins over the operator default, so the default no longer matters
    pinned = make_agent(image="x:1")
    assert thash(pinned, image="quantops/agent:v1") == thash(pinned, image="quantops/agent:v2")


@pytest.mark.parametrize(
    "other",
    [
        {"replicas": 3},
        {"autoscaling": {"minReplicas": 1, "maxReplicas": 3}},
        {"gate": "STOP"},
        {"recycle": {"maxUptimeSeconds": 3600}},
        {"backoff": {"initialSeconds": 5}},
        {"recoveryHoldSeconds": 99},
        {"dependsOn": ["feed"]},
    ],
)
def test_template_hash_unchanged_by_non_template_fields(other: dict[str, Any]) -> None:
    assert thash(make_agent(**other)) == thash(make_agent())


def test_config_change_rolls_the_pods() -> None:
    """Agents read their config once at start, so a new spec.config must change the pod template."""
    base, changed = make_agent(config={"intervalMinutes": 15}), make_agent(config={"intervalMinutes": 20})
    assert thash(base) != thash(changed)
    assert thash(base) == thash(make_agent(config={"intervalMinutes": 15}))
    tpl = deployments.pod_template(changed, "img", None)["metadata"]["annotations"]
    data = deployments.config_map(changed)["data"]
    assert tpl[ANN_CONFIG_HASH] == deployments.template_hash(data)
    assert json.loads(data["config.json"])["config"] == {"intervalMinutes": 20}


def test_replica_count_does_not_change_template_hash() -> None:
    agent = make_agent()
    assert thash(agent, replicas=1) == thash(agent, replicas=5)
    assert deployments.deployment(agent, 5)["spec"]["replicas"] == 5


def test_deployment_shape_and_graceful_shutdown() -> None:
    agent = make_agent(shutdown={"terminationGraceSeconds": 90, "preStopSleepSeconds": 7})
    dep = deployments.deployment(agent, 2, "img:1", "2030-01-01T00:00:00+00:00")
    assert dep["metadata"]["name"] == "a-agent"
    assert dep["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert dep["metadata"]["ownerReferences"][0]["controller"] is True
    assert dep["spec"]["selector"]["matchLabels"] == {"quantops.dev/agent": "a"}
    tpl = dep["spec"]["template"]
    assert tpl["metadata"]["labels"]["quantops.dev/agent"] == "a"
    assert tpl["metadata"]["annotations"][ANN_RESTARTED_AT] == "2030-01-01T00:00:00+00:00"
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    pod = tpl["spec"]
    assert pod["terminationGracePeriodSeconds"] == 90
    (c,) = pod["containers"]
    assert c["image"] == "img:1"
    assert c["lifecycle"]["preStop"] == {"sleep": {"seconds": 7}}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["ports"] == [{"name": "http", "containerPort": 8080}]
    assert pod["terminationGracePeriodSeconds"] > c["lifecycle"]["preStop"]["sleep"]["seconds"]


def test_security_context_non_root_read_only() -> None:
    pod = deployments.deployment(make_agent(), 1)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        # read-only root: the agent's writable state must be on a volume
        assert any(m["mountPath"] == "/var/lib/quantops" and not m.get("readOnly") for m in c["volumeMounts"])


@pytest.mark.parametrize("role", ["trader", "pipeline", "supervisor", "feed", "venue-sim", "canary"])
def test_pods_run_as_their_roles_own_service_account(role: str) -> None:
    """One account per role (quantops_operator.agent_rbac): a venue-sim pod has no trader verbs.
    The token stays mounted as before (no automountServiceAccountToken): the runtime needs it."""
    pod = deployments.deployment(make_agent(role=role), 1)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == f"quantops-agent-{role}"
    assert "automountServiceAccountToken" not in pod


def test_config_map_carries_agent_config() -> None:
    config = {"intervalMinutes": 5, "data": {"NEO/BTC": "candles/neo.csv.gz"}}
    agent = make_agent(config=config, strategies=["s1"], heartbeatSeconds=2)
    cm = deployments.config_map(agent)
    assert cm["metadata"]["name"] == "a-config"
    assert cm["metadata"]["ownerReferences"][0]["uid"] == "u1"
    rendered = json.loads(cm["data"]["config.json"])
    assert rendered["config"] == config
    assert rendered["agent"] == "a"
    assert rendered["role"] == "pipeline"
    assert rendered["strategies"] == ["s1"]
    assert rendered["heartbeatSeconds"] == 2
    assert rendered["probes"]["port"] == 8080
    # the pod mounts exactly this ConfigMap where QUANTOPS_CONFIG points
    pod = deployments.deployment(agent, 1)["spec"]["template"]["spec"]
    assert {"name": "config", "configMap": {"name": "a-config"}} in pod["volumes"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["QUANTOPS_CONFIG"] == "/etc/quantops/config.json"


def test_service_targets_agent_pods() -> None:
    svc = deployments.service(make_agent(probes={"port": 9000}))
    assert svc["metadata"]["name"] == "a-agent"
    assert svc["spec"]["selector"] == {"quantops.dev/agent": "a"}
    assert svc["spec"]["ports"] == [{"name": "http", "port": 9000, "targetPort": "http"}]


def test_a_trader_is_one_pod_replaced_with_recreate_on_its_own_state_claim() -> None:
    trader = make_agent(role="trader", strategies=["s"])
    state = deployments.StateVolume(persistent=True, storage_class="fast", size="2Gi")
    dep = deployments.deployment(trader, 3, state=state)  # the model refuses 3; the builder caps too
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}  # never two traders during a rollout
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert vols["state"] == {"name": "state", "persistentVolumeClaim": {"claimName": "a-state"}}
    claim = deployments.state_claim(trader, state)
    assert claim["metadata"]["name"] == "a-state"
    assert "ownerReferences" not in claim["metadata"]  # deleting the Agent keeps its positions
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "2Gi"}},
        "storageClassName": "fast",
    }
    assert dep["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == 10001
    # without volumes (kwok): an emptyDir, and no claim is made
    ephemeral = deployments.StateVolume(persistent=False)
    dep = deployments.deployment(trader, 1, state=ephemeral)
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert vols["state"] == {"name": "state", "emptyDir": {}}
    assert not deployments.has_state_claim(trader, ephemeral)
    # other roles keep rolling updates and no claim
    assert not deployments.has_state_claim(make_agent(), state)
    assert deployments.deployment(make_agent(), 2)["spec"]["strategy"]["type"] == "RollingUpdate"


def test_a_venue_sim_listens_on_its_service_port_behind_a_cluster_ip() -> None:
    venue = make_agent(role="venue-sim")
    c = deployments.deployment(venue, 1)["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "venue", "containerPort": deployments.VENUE_PORT} in c["ports"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["QUANTOPS_VENUE_HOST"] == "0.0.0.0"
    assert env["QUANTOPS_VENUE_PORT"] == str(deployments.VENUE_PORT)
    svc = deployments.service(venue)["spec"]
    assert "clusterIP" not in svc  # a ClusterIP: other pods reach it through kube-proxy, DNS or not
    assert {"name": "venue", "port": deployments.VENUE_PORT, "targetPort": "venue"} in svc["ports"]
    assert deployments.service(make_agent())["spec"]["clusterIP"] == "None"
