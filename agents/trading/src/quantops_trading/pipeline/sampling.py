"""Adaptive sampling for cold starts (roadmap 24): a cheap look first, the full run for survivors.

Why it exists: most new candidates are bad; running each on the whole history with every param
variant wastes the queue. A strategy code/params fingerprint the pipeline has not seen before is
*cold*: it (and the few param variants the pool asks for) runs on the last ``fast_bars`` bars only,
and only what survives — sharpe ≥ ``fast_min_sharpe``, drawdown ≤ ``fast_max_drawdown``, finite
numbers — is run on the full window. A fingerprint with history goes straight to the full path.
"""

from __future__ import annotations

import polars as pl

from quantops_trading.pipeline.evaluator import Evaluation
from quantops_trading.pipeline.flags import RunFlags

__all__ = ["fast_window", "survives_fast"]


def fast_window(bars: pl.DataFrame, flags: RunFlags) -> pl.DataFrame:
    """The short window of the fast path: the most recent ``fast_bars`` bars."""
    return bars.tail(flags.fast_bars)


def survives_fast(ev: Evaluation, flags: RunFlags) -> tuple[bool, str]:
    """Whether a fast-path result earns a full run, and why (for the evidence snapshot)."""
    if not ev.finite():
        return False, "fast path produced non-finite metrics"
    if ev.sharpe < flags.fast_min_sharpe:
        return False, f"fast sharpe {ev.sharpe:.3f} < {flags.fast_min_sharpe}"
    if ev.max_drawdown > flags.fast_max_drawdown:
        return False, f"fast drawdown {ev.max_drawdown:.3f} > {flags.fast_max_drawdown}"
    return True, f"fast sharpe {ev.sharpe:.3f}, drawdown {ev.max_drawdown:.3f}"
