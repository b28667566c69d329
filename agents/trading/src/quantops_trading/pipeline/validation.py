"""Cross-split validation (roadmap 34): a hard requirement for HOT eligibility.

Why it exists: one good full-history backtest can be one lucky regime. Before HOT the strategy is
re-run out of sample on ``k`` consecutive test segments and must hold up on most of them
(``split_min_pass_fraction``): each segment needs sharpe > 0 and drawdown ≤ the policy's
``max_drawdown``. Two split schemes:

* ``walk_forward``: the series is cut into ``k+1`` blocks; split ``i`` "trains" on blocks ``0..i``
  and tests on block ``i+1`` — strictly after everything it could have seen;
* ``purged_kfold``: ``k`` contiguous test folds; training indices within ``embargo`` bars of a test
  fold are purged on both sides so overlapping features/labels cannot leak.

Built-in strategies have no fitted state beyond their indicators, so a test segment is run from
``warmup`` bars before it (indicator state rebuilt from data the split may see, never from the
test segment's future) and only the test segment's equity counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from quantops_trading.pipeline.evaluator import Evaluation

__all__ = ["Split", "ValidationReport", "cross_validate", "purged_kfold", "walk_forward"]


@dataclass(frozen=True)
class Split:
    train: tuple[int, ...]  # (start, end) ranges flattened: pairs of half-open intervals
    test: tuple[int, int]


def walk_forward(n: int, k: int, embargo: int = 0) -> list[Split]:
    """``k`` splits over ``n`` bars; test ``i`` follows train ``[0, start_i - embargo)``."""
    if k < 1 or n < (k + 1) * 2:
        raise ValueError(f"cross_splits: {k} splits need at least {(k + 1) * 2} bars, have {n}")
    edges = np.linspace(0, n, k + 2).astype(int)
    return [
        Split((0, max(0, int(edges[i + 1]) - embargo)), (int(edges[i + 1]), int(edges[i + 2])))
        for i in range(k)
    ]


def purged_kfold(n: int, k: int, embargo: int = 0) -> list[Split]:
    """``k`` contiguous test folds; train = the rest minus ``embargo`` bars each side of the fold."""
    if k < 2 or n < k * 2:
        raise ValueError(f"cross_splits: {k} folds need at least {k * 2} bars, have {n}")
    edges = np.linspace(0, n, k + 1).astype(int)
    out = []
    for i in range(k):
        a, b = int(edges[i]), int(edges[i + 1])
        train: list[int] = []
        if a - embargo > 0:
            train += [0, a - embargo]
        if b + embargo < n:
            train += [b + embargo, n]
        out.append(Split(tuple(train), (a, b)))
    return out


@dataclass(frozen=True)
class ValidationReport:
    method: str
    passed: bool
    reason: str
    splits: list[dict[str, float]] = field(default_factory=list)

    def export(self) -> dict[str, object]:
        return {"method": self.method, "passed": self.passed, "reason": self.reason, "splits": self.splits}


def _segment_metrics(ev: Evaluation, test_len: int) -> tuple[float, float, float]:
    eq = np.asarray(ev.equity[-test_len:], dtype=float) if ev.equity else np.array([1.0])
    if eq.size < 3 or not np.all(np.isfinite(eq)) or np.any(eq <= 0):
        return 0.0, 0.0, 0.0
    r = eq[1:] / eq[:-1] - 1.0
    sd = float(np.std(r, ddof=1))
    sharpe = float(np.mean(r) / sd * np.sqrt(365 * 86_400_000 / max(ev.bar_ms, 1))) if sd > 1e-15 else 0.0
    peak = np.maximum.accumulate(eq)
    return sharpe, float(np.max(1 - eq / peak)), float(eq[-1] / eq[0] - 1)


def cross_validate(
    run: Callable[[pl.DataFrame], Evaluation],
    bars: pl.DataFrame,
    *,
    k: int,
    method: str,
    embargo: int,
    warmup: int,
    max_drawdown: float,
    min_pass_fraction: float,
) -> ValidationReport:
    """Run every test segment (with ``warmup`` bars before it) and judge the splits."""
    n = bars.height
    try:
        splits = walk_forward(n, k, embargo) if method == "walk_forward" else purged_kfold(n, k, embargo)
    except ValueError as e:
        return ValidationReport(method, False, str(e))
    rows: list[dict[str, float]] = []
    for s in splits:
        a, b = s.test
        ev = run(bars.slice(max(0, a - warmup), b - max(0, a - warmup)))
        sharpe, dd, ret = _segment_metrics(ev, b - a)
        ok = sharpe > 0 and dd <= max_drawdown
        rows.append({"start": a, "end": b, "sharpe": sharpe, "max_drawdown": dd, "return": ret, "passed": ok})
    good = sum(1 for r in rows if r["passed"])
    need = int(np.ceil(min_pass_fraction * len(rows)))
    passed = good >= need
    reason = (
        f"{method}: {good}/{len(rows)} splits passed (need {need}; sharpe > 0, drawdown ≤ {max_drawdown})"
    )
    return ValidationReport(method, passed, reason, rows)
