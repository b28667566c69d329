"""The control plane the tests use is real: built binaries, a real scheduler, kwok-made pods."""

from __future__ import annotations

import json

import pytest
from controlplane import ControlPlane

pytestmark = pytest.mark.cluster


def test_kubectl_version_reports_stamped_version(control_plane: ControlPlane) -> None:
    out = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert out["serverVersion"]["gitVersion"] == "v1.36.3"
    assert out["clientVersion"]["gitVersion"] == "v1.36.3"
    assert out["serverVersion"]["minor"] == "36"


def test_deployment_gets_replicaset_and_ready_pods(control_plane: ControlPlane) -> None:
    k = control_plane.kubectl
    k("create", "namespace", "cp-smoke")
    k("-n", "cp-smoke", "create", "deployment", "web", "--image=example.invalid/web:1", "--replicas=3")
    k("-n", "cp-smoke", "rollout", "status", "deployment/web", "--timeout=90s")
    rs = json.loads(k("-n", "cp-smoke", "get", "replicasets", "-o", "json").stdout)["items"]
    assert len(rs) == 1
    assert rs[0]["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    pods = json.loads(k("-n", "cp-smoke", "get", "pods", "-o", "json").stdout)["items"]
    assert len(pods) == 3
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"
        assert pod["spec"]["nodeName"].startswith("kwok-node-")  # placed by the real scheduler


def test_crd_schema_rejects_invalid_object_with_apiserver_message(control_plane: ControlPlane) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.smoke.example"},
        "spec": {
            "group": "smoke.example",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {"size": {"type": "integer", "minimum": 1}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(crd))
    control_plane.kubectl("wait", "--for=condition=Established", "crd/widgets.smoke.example", "--timeout=30s")
    bad = {
        "apiVersion": "smoke.example/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"},
        "spec": {"size": 0},
    }
    res = control_plane.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert res.returncode != 0
    assert "spec.size" in res.stderr
    assert "should be greater than or equal to 1" in res.stderr


def test_rbac_is_enforced(control_plane: ControlPlane) -> None:
    k = control_plane.kubectl
    k("create", "serviceaccount", "nobody", "-n", "default")
    res = k(
        "auth", "can-i", "create", "deployments", "--as=system:serviceaccount:default:nobody", check=False
    )
    assert res.stdout.strip() == "no"
    token = k("create", "token", "nobody", "-n", "default").stdout.strip()
    assert token.count(".") == 2  # a signed service-account JWT: token signing works
