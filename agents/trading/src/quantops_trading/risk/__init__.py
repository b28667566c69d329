"""Risk: the one gateway between strategies and execution, its rules and kill switches.

Every order passes :class:`RiskGateway`; it enforces the effective gate (STOP > PAUSE > CHECK > GO)
and the RiskPolicy limits, and audits every denial and automatic gate change.
"""

from quantops_trading.risk.book import OrderRequest, RiskBook
from quantops_trading.risk.events import audit_sink
from quantops_trading.risk.gateway import Decision, RiskGateway
from quantops_trading.risk.killswitches import SwitchAction
from quantops_trading.risk.rules import CheckContext, RiskRule, default_rules
from quantops_trading.risk.var import ReturnHistory, RiskEstimate, estimate, loss_estimate

__all__ = [
    "CheckContext",
    "Decision",
    "OrderRequest",
    "ReturnHistory",
    "RiskBook",
    "RiskEstimate",
    "RiskGateway",
    "RiskRule",
    "SwitchAction",
    "audit_sink",
    "default_rules",
    "estimate",
    "loss_estimate",
]
