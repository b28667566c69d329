"""quantops_api: the custom resources (Agent, Strategy, RiskPolicy) as pydantic models.

The single source of truth for the API: crds/generated/*.yaml is generated from these models
(``quantops_api.crdgen``), and both the operator and the agents read objects through them.
It imports only pydantic and the standard library, so either side can depend on it cheaply.
"""

from quantops_api.manifests import ManifestError, parse_all, parse_object
from quantops_api.meta import GROUP, VERSION, Condition, ConditionStatus, Gate, ObjectMeta, Stage
from quantops_api.v1alpha1.agent import Agent, AgentRole, AgentSpec, AgentStatus
from quantops_api.v1alpha1.riskpolicy import RiskPolicy, RiskPolicySpec, RiskPolicyStatus
from quantops_api.v1alpha1.strategy import Strategy, StrategySpec, StrategyStatus

KINDS = (Agent, Strategy, RiskPolicy)

__all__ = [
    "GROUP",
    "KINDS",
    "VERSION",
    "Agent",
    "AgentRole",
    "AgentSpec",
    "AgentStatus",
    "Condition",
    "ConditionStatus",
    "Gate",
    "ManifestError",
    "ObjectMeta",
    "RiskPolicy",
    "RiskPolicySpec",
    "RiskPolicyStatus",
    "Stage",
    "Strategy",
    "StrategySpec",
    "StrategyStatus",
    "parse_all",
    "parse_object",
]
