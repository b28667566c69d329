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
            "spec": {"role": "trader", **spec},
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
    base, changed = make_agent(config={"k": "v"}), make_agent(config={"k": "w"})
    assert thash(base) != thash(changed)
    assert thash(base) == thash(make_agent(config={"k": "v"}))
    tpl = deployments.pod_template(changed, "img", None)["metadata"]["annotations"]
    data = deployments.config_map(changed)["data"]
    assert tpl[ANN_CONFIG_HASH] == deployments.template_hash(data)
    assert json.loads(data["config.json"])["config"] == {"k": "w"}


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


def test_config_map_carries_agent_config() -> None:
    agent = make_agent(config={"venue": "sim", "limits": {"max": 3}}, strategies=["s1"], heartbeatSeconds=2)
    cm = deployments.config_map(agent)
    assert cm["metadata"]["name"] == "a-config"
    assert cm["metadata"]["ownerReferences"][0]["uid"] == "u1"
    rendered = json.loads(cm["data"]["config.json"])
    assert rendered["config"] == {"venue": "sim", "limits": {"max": 3}}
    assert rendered["agent"] == "a"
    assert rendered["role"] == "trader"
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
