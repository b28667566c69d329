"""The operator works with exactly the verbs in quantops_operator.rbac, and nothing more."""

from __future__ import annotations

import json

import pytest
from controlplane import ControlPlane, kubeconfig_text, operator_process

from quantops_operator import rbac

from .conftest import (
    apply_agent,
    condition,
    create_agent_service_accounts,
    forbidden_lines,
    get,
    heartbeat,
    wait_for,
)

pytestmark = pytest.mark.cluster

NS = "ops-rbac"
SA = f"system:serviceaccount:{NS}:quantops-operator"


def _bind(plane: ControlPlane) -> str:
    k = plane.kubectl
    k("create", "namespace", NS)
    k("-n", NS, "create", "serviceaccount", "quantops-operator")
    create_agent_service_accounts(plane, NS)
    k("apply", "-f", "-", input=json.dumps(rbac.role("quantops-operator", NS)))
    k("apply", "-f", "-", input=json.dumps(rbac.cluster_role("quantops-operator-rbac-test")))
    k(
        "-n",
        NS,
        "create",
        "rolebinding",
        "quantops-operator",
        "--role=quantops-operator",
        f"--serviceaccount={NS}:quantops-operator",
    )
    k(
        "create",
        "clusterrolebinding",
        "quantops-operator-rbac-test",
        "--clusterrole=quantops-operator-rbac-test",
        f"--serviceaccount={NS}:quantops-operator",
    )
    return k("-n", NS, "create", "token", "quantops-operator", "--duration=1h").stdout.strip()


def test_operator_runs_under_its_own_least_privilege_role(crds_installed: ControlPlane) -> None:
    plane = crds_installed
    token = _bind(plane)
    can = lambda *a: plane.kubectl("auth", "can-i", *a, f"--as={SA}", "-n", NS, check=False).stdout.strip()  # noqa: E731
    assert can("create", "deployments") == "yes"
    assert can("get", "secrets") == "no"
    assert can("delete", "agents.quantops.dev") == "no"
    assert can("update", "leases") == "no"
    kubeconfig = plane.workdir / "operator-sa.kubeconfig"
    kubeconfig.write_text(kubeconfig_text(plane.server, plane.ca_file, token, user="quantops-operator"))
    with operator_process(plane, NS, kubeconfig=kubeconfig, log_name="operator-rbac"):
        apply_agent(plane, NS, "solo")
        wait_for(
            lambda: (get(plane, NS, "deployment", "solo-agent") or {}).get("status", {}).get("readyReplicas")
        )
        assert get(plane, NS, "configmap", "solo-config") is not None
        svc = get(plane, NS, "service", "solo-agent")
        assert svc is not None and svc["spec"]["clusterIP"] == "None"  # headless: no ClusterIP to exhaust
        heartbeat(plane, NS, "solo")
        wait_for(lambda: condition(get(plane, NS, "agent", "solo"), "Ready").get("status") == "True")
        plane.kubectl("-n", NS, "patch", "agent", "solo", "--type=merge", "-p", '{"spec":{"gate":"PAUSE"}}')
        wait_for(lambda: "GO → PAUSE" in plane.kubectl("-n", NS, "get", "events").stdout, what="gate Event")
    log = (plane.workdir / "operator-rbac.log").read_text()
    assert not forbidden_lines(log), forbidden_lines(log)[:20]
