"""quantops_operator.agent_rbac: one ServiceAccount and Role per Agent role, least privilege.

What each role's runtime really calls is proven on the real API server
(tests/cluster/test_agent_rbac.py); here: the list's shape, and that the writes deciding what trades
(promote a strategy, set a gate, explain a budget) each belong to one role only.
"""

from __future__ import annotations

from typing import get_args

import pytest

from quantops_api import AgentRole
from quantops_operator import agent_rbac, rbac

VALID_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
ROLES = get_args(AgentRole)


def grants(rules: list[rbac.Rule], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


def holders(group: str, resource: str, verb: str) -> list[str]:
    return [role for role in ROLES if grants(agent_rbac.rules(role), group, resource, verb)]


def test_every_agent_role_has_rules_and_its_own_account() -> None:
    assert tuple(agent_rbac.ROLE_RULES) == ROLES  # the CRD's roles, in its order
    accounts = [agent_rbac.service_account(role) for role in ROLES]
    assert accounts == [f"quantops-agent-{role}" for role in ROLES]
    assert all(len(a) <= 63 for a in accounts)  # a DNS label


def test_an_unknown_role_has_neither() -> None:
    with pytest.raises(ValueError, match="unknown agent role 'oracle'"):
        agent_rbac.service_account("oracle")
    with pytest.raises(ValueError, match="unknown agent role"):
        agent_rbac.rules("oracle")


@pytest.mark.parametrize("role", ROLES)
def test_rules_are_well_formed_and_never_read_secrets(role: str) -> None:
    rules = agent_rbac.rules(role)
    assert rules[: len(agent_rbac.COMMON_RULES)] == agent_rbac.COMMON_RULES
    for rule in rules:
        assert rule["verbs"] and rule["resources"] and rule["apiGroups"], rule
        assert set(rule["verbs"]) <= VALID_VERBS, rule
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"] and "*" not in rule["verbs"]
        assert "secrets" not in rule["resources"], rule


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_the_runtime_common_part(role: str) -> None:
    """KubeControl: gate list/watch, heartbeat Lease apply (create + patch) and delete."""
    rules = agent_rbac.rules(role)
    for resource in ("agents", "strategies", "riskpolicies"):
        for verb in ("get", "list", "watch"):
            assert grants(rules, "quantops.dev", resource, verb), (role, resource, verb)
    for verb in ("get", "create", "patch", "delete"):
        assert grants(rules, "coordination.k8s.io", "leases", verb), (role, verb)


def test_the_writes_that_decide_what_trades_are_one_roles_each() -> None:
    assert holders("quantops.dev", "strategies/status", "patch") == ["pipeline"]  # promote/demote
    assert holders("quantops.dev", "riskpolicies", "patch") == ["canary"]  # its NO_GO on spec.gate
    assert holders("quantops.dev", "riskpolicies/status", "patch") == ["trader"]  # lastBudgetChange
    assert holders("events.k8s.io", "events", "create") == ["trader", "canary"]
    assert holders("events.k8s.io", "events", "patch") == ["trader", "canary"]  # a repeat's series
    assert holders("", "services", "get") == ["trader", "canary"]  # venue discovery
    assert holders("", "events", "create") == []  # the runtime writes events.k8s.io/v1 only
    for resource in ("agents", "strategies", "agents/status"):
        for verb in ("create", "update", "patch", "delete"):
            assert holders("quantops.dev", resource, verb) == [], (resource, verb)


@pytest.mark.parametrize("role", ["venue-sim", "supervisor", "feed"])
def test_roles_that_call_nothing_else_get_only_the_common_part(role: str) -> None:
    assert agent_rbac.rules(role) == agent_rbac.COMMON_RULES
