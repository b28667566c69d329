"""Value at Risk and Expected Shortfall per strategy and for the portfolio (roadmap 55).

Why it exists: exposure limits say how big a book is, not how much it can lose in a bad period.
VaR/ES turn a book of signed notional exposures per pair into a one-period loss figure at the
policy's confidence, and the risk rules check it twice: *pre-trade* on the book as it would be after
the order (the order's marginal effect) and *post-trade* on the book after each fill.

Conventions (the tests pin them against an independent reference):

* the inputs are per-pair one-period simple returns (oldest first, at most ``window`` kept) and a
  signed notional exposure per pair; scenario P&L is ``R @ exposure`` and the loss is ``-P&L``;
* ``historical``: VaR is the ``confidence`` empirical quantile of the scenario losses (the smallest
  loss ``l`` with ``F(l) >= confidence``) and ES is the mean of the losses at or beyond it;
* ``parametric``: normal losses with the sample standard deviation (ddof=1) and zero mean:
  ``VaR = z·σ`` and ``ES = σ·φ(z)/(1−c)``;
* ``ewma``: the same closed forms with a RiskMetrics EWMA standard deviation (λ = 0.94).

Fewer than ``MIN_OBSERVATIONS`` returns means *no estimate* (``None``): a rule cannot judge a book
it has no history for, and says so instead of inventing a number. Floats are fine here: these are
risk estimates, never amounts that reach an order. No I/O.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["MIN_OBSERVATIONS", "ReturnHistory", "RiskEstimate", "estimate", "loss_estimate"]

MIN_OBSERVATIONS = 20
EWMA_LAMBDA = 0.94
Method = Literal["historical", "parametric", "ewma"]
_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class RiskEstimate:
    """One VaR/ES figure in quote currency (positive numbers are losses)."""

    var: float
    es: float
    method: Method
    confidence: float
    observations: int


def loss_estimate(losses: npt.NDArray[np.float64], confidence: float, method: Method) -> RiskEstimate | None:
    """VaR/ES of a vector of scenario losses (see module conventions)."""
    n = int(losses.shape[0])
    if n < MIN_OBSERVATIONS:
        return None
    if method == "historical":
        k = max(0, math.ceil(confidence * n - 1e-9) - 1)
        part = np.partition(losses, k)
        var = float(part[k])
        es = float(part[k:].mean())
        return RiskEstimate(var, es, method, confidence, n)
    if method == "parametric":
        sigma = float(losses.std(ddof=1))
    else:
        weights = EWMA_LAMBDA ** np.arange(n - 1, -1, -1, dtype=np.float64)
        sigma = math.sqrt(float(np.dot(weights, losses * losses)) / float(weights.sum()))
    z = _NORMAL.inv_cdf(confidence)
    return RiskEstimate(z * sigma, sigma * _NORMAL.pdf(z) / (1.0 - confidence), method, confidence, n)


class ReturnHistory:
    """Rolling per-pair one-period returns, aligned by observation index (oldest first)."""

    def __init__(self, window: int = 500) -> None:
        self.window = window
        self._series: dict[str, deque[float]] = {}
        self._last_price: dict[str, float] = {}
        self._matrix: npt.NDArray[np.float64] | None = None
        self._pairs: tuple[str, ...] = ()

    def resize(self, window: int) -> None:
        """A new policy window: keep the newest ``window`` returns of every pair."""
        if window != self.window:
            self.window = window
            self._series = {p: deque(s, maxlen=window) for p, s in self._series.items()}
            self._matrix = None

    def add_return(self, pair: str, value: float) -> None:
        series = self._series.get(pair)
        if series is None:
            series = self._series[pair] = deque(maxlen=self.window)
            self._pairs = (*self._pairs, pair)
        series.append(value)
        self._matrix = None

    def add_price(self, pair: str, price: float) -> None:
        """A new mark: the simple return from the previous mark joins the history."""
        last = self._last_price.get(pair)
        self._last_price[pair] = price
        if last is not None and last > 0:
            self.add_return(pair, price / last - 1.0)

    @property
    def pairs(self) -> tuple[str, ...]:
        return self._pairs

    def matrix(self) -> npt.NDArray[np.float64]:
        """Returns as (observations × pairs), newest rows aligned; short series are zero-padded."""
        if self._matrix is None:
            n = max((len(s) for s in self._series.values()), default=0)
            m = np.zeros((n, len(self._pairs)), dtype=np.float64)
            for j, pair in enumerate(self._pairs):
                s = self._series[pair]
                if s:
                    m[n - len(s) :, j] = np.fromiter(s, dtype=np.float64, count=len(s))
            self._matrix = m
        return self._matrix

    def exposure_vector(self, exposure: Mapping[str, float]) -> npt.NDArray[np.float64]:
        """Signed notional per pair in column order (pairs without history contribute nothing)."""
        return np.array([exposure.get(p, 0.0) for p in self._pairs], dtype=np.float64)


def estimate(
    history: ReturnHistory, exposure: Mapping[str, float], confidence: float, method: Method
) -> RiskEstimate | None:
    """VaR/ES of a book of signed notional ``exposure`` per pair over ``history``."""
    matrix = history.matrix()
    if matrix.shape[0] < MIN_OBSERVATIONS:
        return None
    if not any(exposure.values()):
        return RiskEstimate(0.0, 0.0, method, confidence, int(matrix.shape[0]))
    losses = -(matrix @ history.exposure_vector(exposure))
    return loss_estimate(losses, confidence, method)
