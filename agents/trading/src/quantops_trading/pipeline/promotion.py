"""Stage decisions (COLD → WARM → HOT and back) from a Strategy's PromotionPolicy and the evidence.

Why it exists: a promotion gives a strategy more power to lose money, so the rules are pure
functions of recorded evidence, each decision says exactly which check decided it, and every
decision carries the strategy fingerprint. What each step needs (ARCHITECTURE "Gates and stages"):

* COLD → WARM: ``desiredStage`` ≥ WARM, ``autoPromote``, full-path evidence meets the policy
  (``minTrades``, ``minSharpe``, ``maxDrawdown``) and the risk governor's replay of the backtest's
  orders under the target RiskPolicy has no breach (roadmap 64, ``simulate_promotion``).
* WARM → HOT: ``desiredStage`` HOT, WARM for ≥ ``minWarmHours``, evidence meets the policy,
  cross-split validation passed (34) and paper results are inside the backtest envelope (35).
* Demotion: realised loss (63, :func:`~quantops_trading.risk.lifecycle.decide_demotion`, one
  stage per decision: HOT → WARM → COLD), or ``desiredStage`` lowered below the current stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from quantops_api import Stage, StrategySpec
from quantops_trading.pipeline.envelope import EnvelopeCheck, PaperResult
from quantops_trading.pipeline.evaluator import Evaluation
from quantops_trading.pipeline.remediation import meets_policy
from quantops_trading.pipeline.validation import ValidationReport
from quantops_trading.risk.lifecycle import (
    DemotionDecision,
    DemotionThresholds,
    GovernorReport,
    decide_demotion,
)

__all__ = [
    "ORDER",
    "RETUNE_HOLD",
    "StageDecision",
    "decide_cold",
    "decide_desired",
    "decide_loss",
    "decide_warm",
]

ORDER = {Stage.COLD: 0, Stage.WARM: 1, Stage.HOT: 2}
Action = Literal["promote", "demote", "hold", "reject"]


@dataclass(frozen=True)
class StageDecision:
    strategy: str
    action: Action
    old: Stage
    new: Stage
    reason: str
    fingerprint: str
    checks: dict[str, Any] = field(default_factory=dict)

    def export(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "action": self.action, "from": self.old.value, "to": self.new.value,
            "reason": self.reason, "fingerprint": self.fingerprint, "checks": self.checks,
        }  # fmt: skip


def _d(name: str, fp: str, action: Action, old: Stage, new: Stage, why: str, **checks: Any) -> StageDecision:
    return StageDecision(name, action, old, new, why, fp, checks)


def decide_desired(name: str, fp: str, stage: Stage, spec: StrategySpec) -> StageDecision | None:
    """Demote to ``desiredStage`` when it was lowered below the current stage (one step at a time)."""
    if ORDER[spec.desired_stage] >= ORDER[stage]:
        return None
    new = Stage.WARM if stage is Stage.HOT else Stage.COLD
    return _d(name, fp, "demote", stage, new, f"desiredStage {spec.desired_stage.value} < {stage.value}")


def decide_loss(
    name: str, fp: str, stage: Stage, paper: PaperResult | None, limits: DemotionThresholds
) -> tuple[StageDecision, DemotionDecision] | None:
    """Realised-loss demotion (roadmap 63) from the stage's paper/live results."""
    if paper is None or stage is Stage.COLD:
        return None
    dec = decide_demotion(
        name, stage, Decimal(repr(paper.realised_pnl)), Decimal(repr(paper.capital)), limits
    )
    if dec is None:
        return None
    return _d(name, fp, "demote", stage, dec.new, dec.reason, realisedLoss=float(dec.realised_loss)), dec


def decide_cold(
    name: str, fp: str, spec: StrategySpec, full: Evaluation | None, governor: GovernorReport | None
) -> StageDecision:
    c = Stage.COLD
    if ORDER[spec.desired_stage] < ORDER[Stage.WARM]:
        return _d(name, fp, "hold", c, c, "desiredStage is COLD")
    if full is None:
        return _d(name, fp, "reject", c, c, "no full-path evidence")
    ok, why = meets_policy(full, spec.promotion)
    if not ok:
        return _d(name, fp, "reject", c, c, f"evidence: {why}", evidence=False)
    if governor is None or not governor.passed:
        text = governor.explain() if governor else "risk governor simulation did not run"
        return _d(name, fp, "reject", c, c, f"governor: {text}", evidence=True, governor=False)
    if not spec.promotion.auto_promote:
        return _d(
            name, fp, "hold", c, c, f"eligible for WARM ({why}) but autoPromote is false", evidence=True
        )
    return _d(
        name, fp, "promote", c, Stage.WARM, f"evidence {why}; governor: {governor.explain()}",
        evidence=True, governor=True,
    )  # fmt: skip


RETUNE_HOLD = "eligible for HOT with the re-tuned params"


def decide_warm(
    name: str,
    fp: str,
    spec: StrategySpec,
    full: Evaluation | None,
    validation: ValidationReport | None,
    envelope: EnvelopeCheck | None,
    warm_hours: float,
    retuned: Mapping[str, Any] | None = None,
) -> StageDecision:
    """``retuned``: the re-tuned params (31) the evidence was earned with, when they differ from
    ``spec.params``. The trader runs ``spec.params``, so such a strategy is held, not promoted: HOT
    would trade params no backtest, validation or paper run vouched for."""
    w = Stage.WARM
    if spec.desired_stage is not Stage.HOT:
        return _d(name, fp, "hold", w, w, f"desiredStage is {spec.desired_stage.value}")
    pol = spec.promotion
    if warm_hours < pol.min_warm_hours:
        return _d(name, fp, "hold", w, w, f"WARM for {warm_hours:.2f} h < minWarmHours {pol.min_warm_hours}")
    if full is None:
        return _d(name, fp, "reject", w, w, "no full-path evidence")
    ok, why = meets_policy(full, pol)
    if not ok:
        return _d(name, fp, "reject", w, w, f"evidence: {why}", evidence=False)
    if validation is None or not validation.passed:
        text = validation.reason if validation else "cross-split validation did not run"
        return _d(name, fp, "reject", w, w, f"validation: {text}", evidence=True, validation=False)
    if envelope is None or not envelope.passed:
        text = envelope.reason if envelope else "envelope check did not run"
        return _d(
            name, fp, "reject", w, w, f"envelope: {text}", evidence=True, validation=True, envelope=False
        )
    if not pol.auto_promote:
        return _d(name, fp, "hold", w, w, "eligible for HOT but autoPromote is false")
    if retuned:
        return _d(
            name, fp, "hold", w, w,
            f"{RETUNE_HOLD} {dict(retuned)}, but the trader runs spec.params "
            f"{dict(spec.params)}: set spec.params to the re-tuned ones to promote",
        )  # fmt: skip
    return _d(
        name, fp, "promote", w, Stage.HOT, f"evidence {why}; {validation.reason}; {envelope.reason}",
        evidence=True, validation=True, envelope=True,
    )  # fmt: skip
