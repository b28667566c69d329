"""Paper-to-live envelope checks (roadmap 35): WARM paper results must look like the backtest.

Why it exists: a strategy whose paper trading behaves nothing like its backtest is either broken
in live plumbing or was overfit; either way it must not get capital. From the full-path equity
curve we take every window as long as the paper period and form the *envelope*: the
[q, 1-q] quantiles of window returns, and the worst window drawdown times a slack. Paper results
outside it block HOT, with the numbers in the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Envelope", "EnvelopeCheck", "PaperResult", "backtest_envelope", "check_envelope"]


@dataclass(frozen=True)
class PaperResult:
    """What the WARM stage's paper trading produced (from the trader's per-strategy event log)."""

    hours: float
    trades: int
    total_return: float
    max_drawdown: float
    realised_pnl: float
    capital: float


@dataclass(frozen=True)
class Envelope:
    window_bars: int
    return_lo: float
    return_hi: float
    max_drawdown: float


@dataclass(frozen=True)
class EnvelopeCheck:
    passed: bool
    reason: str
    envelope: Envelope | None


def backtest_envelope(
    equity: np.ndarray, window_bars: int, quantile: float, dd_slack: float
) -> Envelope | None:
    """Envelope of all ``window_bars``-long windows of ``equity``; None if the curve is too short."""
    eq = np.asarray(equity, dtype=float)
    w = max(1, int(window_bars))
    if eq.size <= w or np.any(eq <= 0) or not np.all(np.isfinite(eq)):
        return None
    rets = eq[w:] / eq[:-w] - 1.0
    # worst drawdown inside any window of length w: running peak within the window (O(n·w) capped)
    step = max(1, (eq.size - w) // 500)
    worst = 0.0
    for s in range(0, eq.size - w, step):
        seg = eq[s : s + w + 1]
        worst = max(worst, float(np.max(1 - seg / np.maximum.accumulate(seg))))
    lo, hi = np.quantile(rets, [quantile, 1 - quantile])
    return Envelope(w, float(lo), float(hi), worst * dd_slack)


def check_envelope(env: Envelope | None, paper: PaperResult | None) -> EnvelopeCheck:
    if paper is None:
        return EnvelopeCheck(False, "no paper results yet", env)
    if env is None:
        return EnvelopeCheck(False, "backtest too short for an envelope of the paper period", env)
    if not env.return_lo <= paper.total_return <= env.return_hi:
        return EnvelopeCheck(
            False,
            f"paper return {paper.total_return:.4f} outside backtest envelope "
            f"[{env.return_lo:.4f}, {env.return_hi:.4f}] over {env.window_bars} bars",
            env,
        )
    if paper.max_drawdown > env.max_drawdown:
        return EnvelopeCheck(
            False, f"paper drawdown {paper.max_drawdown:.4f} > envelope {env.max_drawdown:.4f}", env
        )
    return EnvelopeCheck(
        True,
        f"paper return {paper.total_return:.4f} in [{env.return_lo:.4f}, {env.return_hi:.4f}], "
        f"drawdown {paper.max_drawdown:.4f} ≤ {env.max_drawdown:.4f}",
        env,
    )
