"""Dynamic horizon selection from realised alpha persistence (49).

Why it exists: a signal's edge decays — a book-imbalance signal may be worth something for seconds,
a trend signal for hours — and the decay changes with the market. Holding for a fixed horizon
either exits before the alpha is realised or keeps risk after it is gone. This module measures,
from *realised* returns only, how well the signal predicted each candidate horizon and picks the
horizon where that information (information coefficient, IC) is highest.

For decision time index ``t`` (bars), horizon ``h`` and lookback ``L``::

    IC_h(t) = corr( s[i], log(close[i+h] / close[i]) )  for i in [t-h-L+1, t-h]

so every forward return used has ended at or before ``t`` (``i + h <= t``): no look-ahead.
:func:`select_horizon` returns the best horizon (ties → the shorter one: less risk for the same
information), or the ``default`` when no IC is positive or history is too short. The estimated
half-life of the IC curve is reported as a diagnostic of persistence.

What it must not do: read ``close`` beyond index ``t`` (a test perturbs the future and compares).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["HorizonChoice", "realised_ic", "select_horizon"]

F64 = npt.NDArray[np.float64]


def _corr(x: F64, y: F64) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or x.std() == 0 or y.std() == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def realised_ic(
    signal: npt.ArrayLike, close: npt.ArrayLike, t: int, horizons: Sequence[int], lookback: int
) -> dict[int, float]:
    """IC per horizon using only data up to and including index ``t`` (NaN if too little history)."""
    s = np.asarray(signal, np.float64)[: t + 1]
    c = np.asarray(close, np.float64)[: t + 1]
    logc = np.log(c)
    out: dict[int, float] = {}
    for h in horizons:
        end = t - h  # last i with i + h <= t
        start = end - lookback + 1
        if h < 1 or start < 0:
            out[h] = math.nan
            continue
        idx = np.arange(start, end + 1)
        out[h] = _corr(s[idx], logc[idx + h] - logc[idx])
    return out


@dataclass(frozen=True, slots=True)
class HorizonChoice:
    horizon: int
    ic: dict[int, float]
    half_life: float | None
    reason: str


def _half_life(ic: dict[int, float]) -> float | None:
    """Horizon at which the IC falls to half its peak (linear interpolation); None if it never does."""
    items = sorted((h, v) for h, v in ic.items() if math.isfinite(v))
    if not items:
        return None
    peak_i = max(range(len(items)), key=lambda i: items[i][1])
    peak = items[peak_i][1]
    if peak <= 0:
        return None
    for (h0, v0), (h1, v1) in zip(items[peak_i:], items[peak_i + 1 :], strict=False):
        if v1 <= peak / 2:
            frac = (v0 - peak / 2) / (v0 - v1) if v0 != v1 else 0.0
            return h0 + frac * (h1 - h0)
    return None


def select_horizon(
    signal: npt.ArrayLike,
    close: npt.ArrayLike,
    t: int,
    horizons: Sequence[int] = (1, 5, 15, 60),
    *,
    lookback: int = 500,
    min_ic: float = 0.0,
    default: int | None = None,
) -> HorizonChoice:
    """The horizon with the highest realised IC at ``t`` (see module docstring)."""
    fallback = default if default is not None else min(horizons)
    ic = realised_ic(signal, close, t, horizons, lookback)
    finite = {h: v for h, v in ic.items() if math.isfinite(v)}
    if not finite:
        return HorizonChoice(fallback, ic, None, "not enough realised history")
    best = max(sorted(finite), key=lambda h: finite[h])  # sorted → ties keep the shorter horizon
    if finite[best] <= min_ic:
        return HorizonChoice(fallback, ic, None, f"no horizon with IC > {min_ic}")
    return HorizonChoice(best, ic, _half_life(ic), f"IC {finite[best]:.3f} at {best} bars")
