"""RBAC rules vs the API calls the operator makes.

Static check: every `self.request(METHOD, path)` in kube.py is parsed from the source (AST), turned
into (apiGroup, resource, verb) and must be allowed by rbac.NAMESPACED_RULES. Server-side apply
(PATCH with application/apply-patch+yaml) creates a missing object, and the API server authorizes
that as `create` as well as `patch`, so an applied resource needs both verbs.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass

import pytest

from quantops_operator import kube, rbac

VALID_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # "{}" for every interpolated segment
    apply: bool
    function: str


def _pattern(node: ast.expr, subst: dict[str, list[str]]) -> list[str]:
    """The path template(s) of an f-string; a name bound to a dict lookup expands to each value."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    assert isinstance(node, ast.JoinedStr), ast.dump(node)
    out = [""]
    for part in node.values:
        if isinstance(part, ast.Constant):
            out = [o + str(part.value) for o in out]
        elif (
            isinstance(part, ast.FormattedValue)
            and isinstance(part.value, ast.Name)
            and part.value.id in subst
        ):
            out = [o + s for o in out for s in subst[part.value.id]]
        else:
            out = [o + "{}" for o in out]
    return out


def kube_calls() -> list[Call]:
    tree = ast.parse(inspect.getsource(kube))
    calls: list[Call] = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.AsyncFunctionDef | ast.FunctionDef) or fn.name == "request":
            continue
        subst: dict[str, list[str]] = {}
        for node in ast.walk(fn):
            # `base = {...}[kind]`: the path prefix is one of the dict's values
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Subscript)
                and isinstance(node.value.value, ast.Dict)
            ):
                subst[node.targets[0].id] = [p for v in node.value.value.values if v for p in _pattern(v, {})]
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "request"
            ):
                method = node.args[0]
                assert isinstance(method, ast.Constant), f"{fn.name}: method must be a literal"
                ctype = next((k.value for k in node.keywords if k.arg == "content_type"), None)
                apply = isinstance(ctype, ast.Constant) and ctype.value == "application/apply-patch+yaml"
                for path in _pattern(node.args[1], subst):
                    calls.append(Call(str(method.value), path, apply, fn.name))
    return calls


def required(call: Call) -> tuple[str, str, set[str]]:
    """(apiGroup, resource[/subresource], verbs) a namespaced REST call needs."""
    parts = call.path.strip("/").split("/")
    if parts[0] == "api":
        group, rest = "", parts[2:]
    else:
        assert parts[0] == "apis", call
        group, rest = parts[1], parts[3:]
    assert rest[:2] == ["namespaces", "{}"], f"not a namespaced path: {call}"
    rest = rest[2:]
    resource, named = rest[0], len(rest) > 1
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    verbs = {
        ("GET", True): {"get"},
        ("GET", False): {"list"},
        ("PATCH", True): {"patch"},
        ("PUT", True): {"update"},
        ("DELETE", True): {"delete"},
        ("POST", False): {"create"},
    }[(call.method, named)]
    if call.apply:
        verbs = verbs | {"create"}  # SSA of a missing object is authorized as create
    return group, resource, verbs


def allowed(group: str, resource: str, verb: str) -> bool:
    return any(
        group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
        for r in rbac.NAMESPACED_RULES
    )


def test_every_rule_has_verbs_groups_and_resources() -> None:
    for rule in [*rbac.NAMESPACED_RULES, *rbac.CLUSTER_RULES]:
        assert rule["verbs"], rule
        assert rule["resources"], rule
        assert rule["apiGroups"], rule
        assert set(rule["verbs"]) <= VALID_VERBS, rule
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule


def test_scanner_finds_the_operator_calls() -> None:
    """kube.py writes; what a reconcile reads (Deployments, Pods, Leases, Agents) comes from kopf's
    watch indexes, covered by the list/watch rules (test_expected_permissions). The one read: an
    Agent's Leases, fresh from the API, before a restart is decided."""
    found = {(c.method, c.path, c.apply) for c in kube_calls()}
    for prefix in (
        "/apis/apps/v1/namespaces/{}/deployments",
        "/api/v1/namespaces/{}/configmaps",
        "/api/v1/namespaces/{}/services",
        "/api/v1/namespaces/{}/persistentvolumeclaims",
    ):
        assert ("PATCH", prefix + "/{}", True) in found
    assert ("PATCH", "/apis/quantops.dev/v1alpha1/namespaces/{}/agents/{}/status", False) in found
    reads = {c for c in found if c[0] == "GET"}
    assert reads == {("GET", "/apis/coordination.k8s.io/v1/namespaces/{}/leases", False)}, reads


@pytest.mark.parametrize("call", kube_calls(), ids=lambda c: f"{c.function}:{c.method}:{c.path}")
def test_kube_call_is_covered_by_a_rule(call: Call) -> None:
    group, resource, verbs = required(call)
    missing = sorted(v for v in verbs if not allowed(group, resource, v))
    assert not missing, (
        f"{call.function}: {call.method} {call.path} needs {missing} on {group or 'core'}/{resource}"
    )


@pytest.mark.parametrize(
    ("group", "resource", "verb"),
    [
        ("apps", "deployments", "get"),
        ("apps", "deployments", "patch"),
        ("apps", "deployments", "create"),
        ("", "configmaps", "patch"),
        ("", "configmaps", "create"),
        ("", "services", "patch"),
        ("", "services", "create"),
        ("coordination.k8s.io", "leases", "list"),
        ("coordination.k8s.io", "leases", "watch"),
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("apps", "deployments", "list"),
        ("apps", "deployments", "watch"),
        ("quantops.dev", "agents", "watch"),
        ("quantops.dev", "riskpolicies", "get"),
        ("quantops.dev", "agents/status", "patch"),
        ("", "events", "create"),
    ],
)
def test_expected_permissions(group: str, resource: str, verb: str) -> None:
    assert allowed(group, resource, verb)


def test_operator_cannot_write_leases_pods_or_secrets() -> None:
    for verb in ("create", "patch", "update", "delete"):
        assert not allowed("coordination.k8s.io", "leases", verb)
        assert not allowed("", "pods", verb)
    assert not any("secrets" in r["resources"] for r in rbac.NAMESPACED_RULES)


def test_role_documents_render_the_rules() -> None:
    role = rbac.role("quantops-operator", "quantops")
    assert role["kind"] == "Role"
    assert role["metadata"] == {"name": "quantops-operator", "namespace": "quantops"}
    assert role["rules"] is rbac.NAMESPACED_RULES
    cr = rbac.cluster_role("quantops-operator")
    assert cr["kind"] == "ClusterRole" and cr["rules"] is rbac.CLUSTER_RULES
