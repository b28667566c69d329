"""Cluster-test fixtures: the operator as a process against the real plane, and small helpers."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from controlplane import ControlPlane, operator_process

from quantops_operator import agent_rbac

GLOBAL_GO = {
    "apiVersion": "quantops.dev/v1alpha1",
    "kind": "RiskPolicy",
    "metadata": {"name": "global"},
    "spec": {"gate": "GO"},
}


@pytest.fixture(scope="session")
def operator(crds_installed: ControlPlane) -> Iterator[str]:
    """The operator (`python -m quantops_operator`) watching namespace `ops`, for the whole session."""
    k = crds_installed.kubectl
    k("create", "namespace", "ops")
    create_agent_service_accounts(crds_installed, "ops")
    # as on every platform, a global RiskPolicy at GO: without one agents (and their status) PAUSE
    k("-n", "ops", "apply", "-f", "-", input=json.dumps(GLOBAL_GO))
    try:
        with operator_process(crds_installed, "ops"):
            yield "ops"
    finally:
        print((crds_installed.workdir / "operator.log").read_text()[-5000:])


def wait_for(pred: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def get(plane: ControlPlane, ns: str, kind: str, name: str) -> dict[str, Any] | None:
    res = plane.kubectl("-n", ns, "get", kind, name, "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


def forbidden_lines(log: str) -> list[str]:
    """The operator log lines that report a 403/Forbidden answer.

    Judged without the "[date time,ms]" prefixes (a millisecond field may read 403) and without
    the probe server's access log (a response size may): what is left are the operator's messages."""
    return [
        line
        for line in log.splitlines()
        if "aiohttp.access" not in line
        and re.search(r"\b403\b|forbidden", re.sub(r"^\[[^\]]*\]", "", line), re.IGNORECASE)
    ]


def heartbeat(
    plane: ControlPlane,
    ns: str,
    agent: str,
    *,
    replica: str = "0",
    queue: int = 0,
    open_orders: int = 0,
    health: str = "ok",
    at: dt.datetime | None = None,
) -> None:
    """Write the Lease an agent replica renews (what the agent runtime does every 5 s)."""
    now = (at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": f"{agent}-{replica}",
            "namespace": ns,
            "labels": {"quantops.dev/agent": agent},
            "annotations": {
                "quantops.dev/queue-length": str(queue),
                "quantops.dev/open-orders": str(open_orders),
                "quantops.dev/health": health,
            },
        },
        "spec": {"holderIdentity": f"{agent}-{replica}", "leaseDurationSeconds": 15, "renewTime": now},
    }
    plane.kubectl("apply", "-f", "-", input=json.dumps(lease))


def apply_agent(plane: ControlPlane, ns: str, name: str, **spec: object) -> None:
    """Apply an Agent (role trader unless given) the way a user would: kubectl apply of a manifest."""
    body = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name},
        "spec": {"role": "trader", **spec},
    }
    plane.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(body))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def create_agent_service_accounts(plane: ControlPlane, ns: str) -> None:
    """The ServiceAccounts the operator puts into Agent pods, one per role (the chart creates them;
    a pod naming a missing one is refused, so the ReplicaSet never gets its pods)."""
    for role in agent_rbac.ROLE_RULES:
        plane.kubectl("-n", ns, "create", "serviceaccount", agent_rbac.service_account(role))


def agent_role_token(
    plane: ControlPlane, ns: str, role: str, rules: list[dict[str, Any]] | None = None
) -> str:
    """A token of role ``role``'s ServiceAccount in ``ns``, bound to a Role of exactly
    ``agent_rbac.rules(role)`` (what the chart renders), or of ``rules`` when given."""
    account = agent_rbac.service_account(role)
    k = plane.kubectl
    k("-n", ns, "create", "serviceaccount", account)
    body = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": account, "namespace": ns},
        "rules": agent_rbac.rules(role) if rules is None else rules,
    }
    k("apply", "-f", "-", input=json.dumps(body))
    k("-n", ns, "create", "rolebinding", account, f"--role={account}", f"--serviceaccount={ns}:{account}")
    return k("-n", ns, "create", "token", account, "--duration=1h").stdout.strip()
