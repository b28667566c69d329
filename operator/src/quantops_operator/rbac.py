"""The exact API verbs the operator uses: one list that kube.py stays within and Helm renders.

Namespaced rules go into a Role; the cluster-scoped ones (kopf's CRD scan) into a ClusterRole.
A cluster test runs the operator under a ServiceAccount bound to exactly these rules.
"""

from __future__ import annotations

from typing import TypedDict


class Rule(TypedDict):
    apiGroups: list[str]
    resources: list[str]
    verbs: list[str]


NAMESPACED_RULES: list[Rule] = [
    {
        "apiGroups": ["quantops.dev"],
        "resources": ["agents", "strategies", "riskpolicies"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {
        "apiGroups": ["quantops.dev"],
        "resources": ["agents/status", "strategies/status", "riskpolicies/status"],
        "verbs": ["get", "patch"],
    },
    {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {
        "apiGroups": [""],
        "resources": ["configmaps", "services", "persistentvolumeclaims"],
        "verbs": ["get", "create", "patch"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
]

CLUSTER_RULES: list[Rule] = [
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
]


def role(name: str, namespace: str) -> dict[str, object]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": NAMESPACED_RULES,
    }


def cluster_role(name: str) -> dict[str, object]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": CLUSTER_RULES,
    }
