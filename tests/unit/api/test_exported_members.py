"""The public API is deliberate: this pins quantops_api.__all__."""

import quantops_api


def test_exported_members() -> None:
    assert set(quantops_api.__all__) == {
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
    }
    for name in quantops_api.__all__:
        assert hasattr(quantops_api, name)
