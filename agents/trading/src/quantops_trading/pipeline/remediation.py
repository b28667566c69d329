"""Auto-remediation of repeated WARM rejections (roadmap 31): re-tune within bounds, or retire.

Why it exists: a WARM strategy rejected for HOT cycle after cycle occupies paper capacity and
attention. After ``remediate_after`` rejections the pipeline tries param variants inside the
bounds the strategy's own ``Params`` model declares (``pool.propose_variants``),
each run on the full window; the best one that meets the promotion thresholds becomes the re-tune
(evaluated by later cycles; the rejection count restarts). With no acceptable variant, or after
``max_retunes`` re-tunes, the strategy is retired — demoted to COLD and skipped — with the reason.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from quantops_api.v1alpha1.strategy import PromotionPolicy
from quantops_trading.pipeline.evaluator import Evaluation
from quantops_trading.pipeline.pool import propose_variants

__all__ = ["Remediation", "meets_policy", "remediate"]


@dataclass(frozen=True)
class Remediation:
    action: Literal["none", "retune", "retire"]
    reason: str
    params: dict[str, Any] = field(default_factory=dict)
    tried: int = 0


def meets_policy(ev: Evaluation, policy: PromotionPolicy) -> tuple[bool, str]:
    if not ev.finite():
        return False, "non-finite metrics"
    if ev.trades < policy.min_trades:
        return False, f"trades {ev.trades} < minTrades {policy.min_trades}"
    if ev.sharpe < policy.min_sharpe:
        return False, f"sharpe {ev.sharpe:.3f} < minSharpe {policy.min_sharpe}"
    if ev.max_drawdown > policy.max_drawdown:
        return False, f"drawdown {ev.max_drawdown:.3f} > maxDrawdown {policy.max_drawdown}"
    return True, f"trades {ev.trades}, sharpe {ev.sharpe:.3f}, drawdown {ev.max_drawdown:.3f}"


def remediate(
    entrypoint: str,
    params: Mapping[str, Any],
    policy: PromotionPolicy,
    *,
    rejections: int,
    retunes: int,
    after: int,
    max_retunes: int,
    variants: int,
    rng: random.Random,
    run: Callable[[Mapping[str, Any]], Evaluation],
) -> Remediation:
    if rejections < after:
        return Remediation("none", f"{rejections} WARM rejection(s) < {after}")
    if retunes >= max_retunes:
        return Remediation(
            "retire", f"{rejections} WARM rejections after {retunes} re-tune(s) (max {max_retunes})"
        )
    best: tuple[float, dict[str, Any]] | None = None
    cands = propose_variants(entrypoint, params, variants, rng)
    for cand in cands:
        ev = run(cand)
        ok, _ = meets_policy(ev, policy)
        if ok and (best is None or ev.sharpe > best[0]):
            best = (ev.sharpe, cand)
    if best is None:
        return Remediation(
            "retire", f"{rejections} WARM rejections; none of {len(cands)} in-bounds variants met the policy",
            tried=len(cands),
        )  # fmt: skip
    return Remediation(
        "retune", f"{rejections} WARM rejections; re-tuned to a variant with sharpe {best[0]:.3f}",
        best[1], len(cands),
    )  # fmt: skip
