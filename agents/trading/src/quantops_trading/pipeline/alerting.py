"""Evidence threshold alerts (roadmap 27), routed through the observability alert router.

Why it exists: a strategy stuck below its promotion thresholds is invisible unless someone is
told. Two NO_GO warnings (scope ``Strategy/<name>``):

* *minimum evidence not met*: its full-path backtest has fewer trades than ``minTrades``, so no
  promotion decision is possible at all;
* *warm evidence not met*: it has been WARM for at least ``minWarmHours`` and its paper trading
  still has fewer than ``minTrades`` fills (or none recorded).

The router (dedup, rate limits, channels) is :class:`~quantops_trading.observability.alerts.AlertRouter`.
"""

from __future__ import annotations

from quantops_api import Stage
from quantops_api.v1alpha1.strategy import PromotionPolicy
from quantops_trading.observability.alerts import Alert
from quantops_trading.pipeline.envelope import PaperResult
from quantops_trading.pipeline.evaluator import Evaluation

__all__ = ["evidence_alerts"]


def evidence_alerts(
    name: str,
    stage: Stage,
    policy: PromotionPolicy,
    full: Evaluation | None,
    paper: PaperResult | None,
    warm_hours: float | None,
    at: float,
) -> list[Alert]:
    out: list[Alert] = []
    scope = f"Strategy/{name}"
    if full is not None and full.trades < policy.min_trades:
        out.append(
            Alert(
                state="NO_GO", severity="warning", scope=scope, title="minimum evidence not met",
                detail=f"backtest trades {full.trades} < minTrades {policy.min_trades} over {full.bars} bars",
                at=at,
            )
        )  # fmt: skip
    if stage is Stage.WARM and warm_hours is not None and warm_hours >= policy.min_warm_hours:
        fills = paper.trades if paper else 0
        if fills < policy.min_trades:
            out.append(
                Alert(
                    state="NO_GO", severity="warning", scope=scope, title="warm evidence not met",
                    detail=f"WARM for {warm_hours:.1f} h (≥ minWarmHours {policy.min_warm_hours}) "
                    f"with {fills} paper fills < minTrades {policy.min_trades}",
                    at=at,
                )
            )  # fmt: skip
    return out
