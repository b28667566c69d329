"""quantops_operator: the kopf operator reconciling Agent, Strategy and RiskPolicy objects.

Never import the trading library here (import-linter enforces it): the operator only needs the
API models and the pure orchestration decisions in quantops_api.
"""

__all__: list[str] = []
