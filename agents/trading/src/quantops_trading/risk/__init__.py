"""Risk: the one gateway between strategies and execution, its rules and kill switches.

Every order passes :class:`RiskGateway`; it enforces the effective gate (STOP > PAUSE > CHECK > GO)
and the RiskPolicy limits, and audits every denial and automatic gate change. Around it: VaR/ES
(``var``), budget allocation with explanations (``allocator``), the unwind ladder (``unwind``),
execution-health and clustering switches (``health``), stage decisions (``lifecycle``) and the
concentration heatmap (``heatmap``). ``livefeed`` (venue health and regime from the live loop)
is imported on its own: it pulls in polars and numba.
"""

from quantops_trading.risk.allocator import (
    Allocation,
    AllocationResult,
    AllocatorConfig,
    BudgetAllocator,
    StrategyScore,
    allocate,
)
from quantops_trading.risk.book import OrderRequest, RiskBook
from quantops_trading.risk.events import (
    AuditSink,
    BudgetChanged,
    ClusterThrottled,
    KillSwitchTripped,
    PromotionSimulated,
    StageDemoted,
    UnwindStep,
    WouldBeOrder,
    audit_sink,
)
from quantops_trading.risk.gateway import Decision, OrderPort, RiskGateway
from quantops_trading.risk.health import (
    AdverseClusterDetector,
    HealthSnapshot,
    HealthThresholds,
    health_actions,
    snapshot_from,
)
from quantops_trading.risk.heatmap import concentration_heatmap, render, render_html, render_png
from quantops_trading.risk.killswitches import GateView, SwitchAction
from quantops_trading.risk.lifecycle import (
    Breach,
    DemotionDecision,
    DemotionThresholds,
    GovernorReport,
    SimOrder,
    decide_demotion,
    demote,
    simulate_promotion,
)
from quantops_trading.risk.rules import CheckContext, RiskRule, default_rules
from quantops_trading.risk.unwind import UnwindLadder, ladders_for_stress, stopped_positions
from quantops_trading.risk.var import ReturnHistory, RiskEstimate, estimate, loss_estimate

__all__ = [
    "AdverseClusterDetector",
    "Allocation",
    "AllocationResult",
    "AllocatorConfig",
    "AuditSink",
    "Breach",
    "BudgetAllocator",
    "BudgetChanged",
    "CheckContext",
    "ClusterThrottled",
    "Decision",
    "DemotionDecision",
    "DemotionThresholds",
    "GateView",
    "GovernorReport",
    "HealthSnapshot",
    "HealthThresholds",
    "KillSwitchTripped",
    "OrderPort",
    "OrderRequest",
    "PromotionSimulated",
    "ReturnHistory",
    "RiskBook",
    "RiskEstimate",
    "RiskGateway",
    "RiskRule",
    "SimOrder",
    "StageDemoted",
    "StrategyScore",
    "SwitchAction",
    "UnwindLadder",
    "UnwindStep",
    "WouldBeOrder",
    "allocate",
    "audit_sink",
    "concentration_heatmap",
    "decide_demotion",
    "default_rules",
    "demote",
    "estimate",
    "health_actions",
    "ladders_for_stress",
    "loss_estimate",
    "render",
    "render_html",
    "render_png",
    "simulate_promotion",
    "snapshot_from",
    "stopped_positions",
]
