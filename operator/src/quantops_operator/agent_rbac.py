"""The exact API verbs each Agent role's pods use: one ServiceAccount and one Role per role.

Why per role: with one account for every agent, a compromised venue simulator could promote
strategies (``strategies/status``), lift gates (``riskpolicies``) and write budget explanations. Here
every role gets what its runtime (``quantops_trading.runtime``) calls and nothing else; the
operator puts :func:`service_account` of an Agent's role into its pods, and hack/gen-chart.py renders
one ServiceAccount, Role and RoleBinding per entry of :data:`ROLE_RULES` (templates/_rbac_rules.tpl).

What each role calls (read from the code; tests/cluster/test_agent_rbac.py runs those code paths
as each role's account and checks the refusals):

- every role, ``runtime/control.py`` ``KubeControl``: list + watch of Agents, Strategies and
  RiskPolicies (its gates), get of one of them (the canary's gate read, an Event's object uid);
  its heartbeat Lease renewed by server-side apply (PATCH, authorized as ``create`` when the Lease
  is missing) and deleted on SIGTERM. The trader's single-writer Lease (``runtime/singleton.py``:
  get, create, patch) and the pipeline's work-item claims (``runtime/strategy_status.py``: get,
  create, patch) use the same verbs. Lease names are per agent, and RBAC cannot restrict
  ``create`` by name, so the Lease verbs are on every Lease of the namespace; the chart's Lease
  admission policy narrows them to the asking pod's own agent (templates/lease-admission-policy.yaml).
- trader: the venue-sim's Service (``runtime/discovery.py``: get ``<venue>-agent``); Events for
  its automatic decisions (``observability/kube_events.py`` ``KubeEventRecorder``:
  events.k8s.io create, patch of a repeat's series); ``status.lastBudgetChange`` of the global
  RiskPolicy (patch ``riskpolicies/status``).
- pipeline: stage, evidence and transitions in Strategy status (patch ``strategies/status``).
- canary: the venue-sim's Service (discovery, as the trader); its NO_GO on ``spec.gate`` of its
  ``gateScope`` RiskPolicy (``runtime/canary_role.py`` ``KubeGateSetter``: patch ``riskpolicies``)
  and the Event about it (create, patch). A ``gateScope`` of ``agent/NAME`` or ``strategy/NAME``
  would need ``patch`` on Agents or Strategies, which no role gets: patching an Agent's spec
  changes what its pods run. Such a canary's gate write is refused, naming the missing verb.
- supervisor, feed, venue-sim: nothing beyond the common part (on Kubernetes the supervisor has
  no control URL; feed is idle work; the venue simulator serves HTTP and calls no API).

No role reads Secrets: exchange keys reach trader pods as secretKeyRef env (the kubelet reads them).
"""

from __future__ import annotations

from quantops_api import AgentRole
from quantops_operator.rbac import Rule

__all__ = ["COMMON_RULES", "ROLE_RULES", "SERVICE_ACCOUNT_PREFIX", "rules", "service_account"]

SERVICE_ACCOUNT_PREFIX = "quantops-agent"

COMMON_RULES: list[Rule] = [
    {
        "apiGroups": ["quantops.dev"],
        "resources": ["agents", "strategies", "riskpolicies"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "create", "patch", "delete"],
    },
]

_VENUE_SERVICE: Rule = {"apiGroups": [""], "resources": ["services"], "verbs": ["get"]}
_EVENTS: Rule = {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}

ROLE_RULES: dict[AgentRole, list[Rule]] = {
    "trader": [
        _VENUE_SERVICE,
        _EVENTS,
        {"apiGroups": ["quantops.dev"], "resources": ["riskpolicies/status"], "verbs": ["patch"]},
    ],
    "pipeline": [
        {"apiGroups": ["quantops.dev"], "resources": ["strategies/status"], "verbs": ["patch"]},
    ],
    "supervisor": [],
    "feed": [],
    "venue-sim": [],
    "canary": [
        _VENUE_SERVICE,
        _EVENTS,
        {"apiGroups": ["quantops.dev"], "resources": ["riskpolicies"], "verbs": ["patch"]},
    ],
}
"""What a role calls beyond :data:`COMMON_RULES`; a key for every ``AgentRole``, in its order."""

_BY_NAME: dict[str, list[Rule]] = dict(ROLE_RULES.items())


def _known(role: str) -> str:
    if role not in _BY_NAME:
        raise ValueError(f"unknown agent role {role!r}; roles: {', '.join(_BY_NAME)}")
    return role


def service_account(role: str) -> str:
    """The ServiceAccount of an Agent's pods: ``quantops-agent-<role>`` (the chart creates them)."""
    return f"{SERVICE_ACCOUNT_PREFIX}-{_known(role)}"


def rules(role: str) -> list[Rule]:
    """The whole Role of ``role``: the common part, then the role's own rules."""
    return [*COMMON_RULES, *_BY_NAME[_known(role)]]
