"""Risk budget allocation across strategies, with an explanation for every number (52, 60).

Why it exists: capital should follow *trustworthy* edge. A strategy that is unsure of itself (low
confidence), whose confidence does not match its hit rate (poor calibration) or that has too little
evidence must get less, and nobody should have to reverse-engineer why. :func:`allocate` is a
pure function from the policy's ``riskBudget`` and one :class:`StrategyScore` per strategy to
:class:`Allocation` values, each with a written explanation. :class:`BudgetAllocator` keeps the
previous allocation and, whenever it changes, writes a ``BudgetChanged`` audit event carrying the
explainability report: what changed (old → new), which inputs, which rules fired.

The weight of a strategy is ``edge × calibration × evidence`` where ``edge = 2·(confidence − ½)``
(a coin flip earns nothing), ``calibration = max(0, 1 − ECE / maxCalibrationError)`` and
``evidence = min(1, samples / minSamples)``. Below ``minConfidence`` the weight is zero. Weights are
normalised to the budget and no strategy gets more than ``maxShare`` of it (the excess is
redistributed, and what cannot be placed stays in reserve). Amounts are Decimals rounded down to
cents, so the sum never exceeds the budget.

What it must not do: move capital by itself; the gateway's ``set_capital`` applies an allocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from quantops_trading.risk.events import AuditSink, BudgetChanged, audit_sink, ts_ns_of
from quantops_trading.storage.eventlog import EventLog

__all__ = [
    "Allocation",
    "AllocationResult",
    "AllocatorConfig",
    "BudgetAllocator",
    "StrategyScore",
    "allocate",
]

_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class StrategyScore:
    """Allocator inputs for one strategy (from its evidence and calibration report)."""

    strategy: str
    confidence: float  # mean predicted probability of being right, in [0, 1]
    calibration_error: float  # expected calibration error, 0 = perfectly calibrated
    samples: int  # closed trades / evaluated signals behind the numbers


@dataclass(frozen=True, slots=True)
class AllocatorConfig:
    min_confidence: float = 0.52
    max_calibration_error: float = 0.25
    min_samples: int = 50
    max_share: float = 0.5


@dataclass(frozen=True, slots=True)
class Allocation:
    strategy: str
    amount: Decimal
    weight: float
    rules: tuple[str, ...]
    explanation: str


@dataclass(frozen=True)
class AllocationResult:
    budget: Decimal
    allocations: dict[str, Allocation]
    reserve: Decimal

    def amounts(self) -> dict[str, Decimal]:
        return {s: a.amount for s, a in self.allocations.items()}


def _weight(score: StrategyScore, cfg: AllocatorConfig) -> tuple[float, list[str]]:
    rules: list[str] = []
    if score.confidence < cfg.min_confidence:
        rules.append(
            f"min_confidence: confidence {score.confidence:.2f} < {cfg.min_confidence:.2f} → weight 0"
        )
        return 0.0, rules
    edge = 2.0 * (score.confidence - 0.5)
    cal = max(0.0, 1.0 - score.calibration_error / cfg.max_calibration_error)
    ev = min(1.0, score.samples / cfg.min_samples) if cfg.min_samples > 0 else 1.0
    rules.append(f"edge: 2·({score.confidence:.2f} − 0.5) = {edge:.3f}")
    if cal < 1.0:
        rules.append(
            f"calibration_penalty: ECE {score.calibration_error:.3f} "
            f"of max {cfg.max_calibration_error:.2f} → ×{cal:.2f}"
        )
    if ev < 1.0:
        rules.append(f"evidence_penalty: {score.samples} samples of {cfg.min_samples} needed → ×{ev:.2f}")
    return edge * cal * ev, rules


def allocate(
    budget: Decimal, scores: Sequence[StrategyScore], cfg: AllocatorConfig | None = None
) -> AllocationResult:
    """Split ``budget`` across strategies (see the module docstring for the formula)."""
    cfg = cfg or AllocatorConfig()
    weighted = {s.strategy: _weight(s, cfg) for s in scores}
    shares = dict.fromkeys(weighted, 0.0)
    capped: set[str] = set()
    free = {k for k, (w, _) in weighted.items() if w > 0}
    remaining = 1.0
    while free and remaining > 1e-12:
        total = sum(weighted[k][0] for k in free)
        over = {k for k in free if remaining * weighted[k][0] / total > cfg.max_share - shares[k] + 1e-12}
        if not over:
            for k in free:
                shares[k] += remaining * weighted[k][0] / total
            remaining = 0.0
            break
        for k in over:
            remaining -= cfg.max_share - shares[k]
            shares[k] = cfg.max_share
            capped.add(k)
        free -= over
    out: dict[str, Allocation] = {}
    for s in scores:
        w, rules = weighted[s.strategy]
        share = shares[s.strategy]
        if s.strategy in capped:
            rules = [*rules, f"max_share: capped at {cfg.max_share:.0%} of the budget"]
        amount = (budget * Decimal(str(share))).quantize(_CENT, rounding=ROUND_DOWN)
        why = (
            f"{s.strategy}: {amount} of {budget} ({share:.1%}); weight {w:.3f} from confidence "
            f"{s.confidence:.2f}, calibration error {s.calibration_error:.3f}, {s.samples} samples. "
            + " ".join(rules)
        )
        out[s.strategy] = Allocation(s.strategy, amount, w, tuple(rules), why)
    reserve = budget - sum((a.amount for a in out.values()), Decimal(0))
    return AllocationResult(budget, out, reserve)


@dataclass
class BudgetAllocator:
    """Stateful wrapper: audits a ``BudgetChanged`` explainability report on every change."""

    config: AllocatorConfig = field(default_factory=AllocatorConfig)
    audit: EventLog | AuditSink | None = None
    clock: Callable[[], float] = time.time
    current: AllocationResult | None = None
    reports: list[BudgetChanged] = field(default_factory=list)

    def rebalance(self, budget: Decimal, scores: Sequence[StrategyScore]) -> AllocationResult:
        result = allocate(budget, scores, self.config)
        old = self.current.amounts() if self.current is not None else {}
        new = result.amounts()
        changes = {
            s: (float(old.get(s, 0)), float(new.get(s, 0)))
            for s in sorted(set(old) | set(new))
            if old.get(s, Decimal(0)) != new.get(s, Decimal(0))
        }
        budget_changed = self.current is None or self.current.budget != budget
        self.current = result
        if not changes and not budget_changed:
            return result
        report = {
            "what_changed": {s: {"old": o, "new": n} for s, (o, n) in changes.items()},
            "budget": {"old": None if not old else float(sum(old.values())), "new": float(budget)},
            "inputs": {
                s.strategy: {
                    "confidence": s.confidence,
                    "calibration_error": s.calibration_error,
                    "samples": s.samples,
                }
                for s in scores
            },
            "rules": {s: list(a.rules) for s, a in result.allocations.items()},
            "config": {
                "min_confidence": self.config.min_confidence,
                "max_calibration_error": self.config.max_calibration_error,
                "min_samples": self.config.min_samples,
                "max_share": self.config.max_share,
            },
            "reserve": float(result.reserve),
        }
        lines = [f"risk budget {budget}: {len(changes)} allocation(s) changed"]
        lines += [
            f"- {s}: {o:.2f} → {n:.2f}. {result.allocations[s].explanation}"
            for s, (o, n) in changes.items()
            if s in result.allocations
        ]
        lines += [
            f"- {s}: {o:.2f} → 0 (no longer scored)"
            for s, (o, _) in changes.items()
            if s not in result.allocations
        ]
        if budget_changed:  # a new budget re-explains every allocation, changed or not
            lines += [
                f"- {s}: {a.amount} (unchanged). {a.explanation}"
                for s, a in result.allocations.items()
                if s not in changes
            ]
        event = BudgetChanged(
            ts_ns=ts_ns_of(self.clock()),
            total=float(budget),
            allocations={s: float(a) for s, a in new.items()},
            changes=changes,
            explanation="\n".join(lines),
            report=report,
        )
        self.reports.append(event)
        audit_sink(self.audit)(event)
        return result
