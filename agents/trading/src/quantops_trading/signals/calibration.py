"""Confidence calibration by regime and spread bucket, reliability curves and ECE over time (43).

Why it exists: strategy confidences are scores, not probabilities — Momentum's 0.9 does not mean
"right nine times out of ten". Sizing, arbitration and throttling treat confidence as a
probability, so it must be mapped to the observed hit rate, separately per regime and per spread
bucket (a wide spread eats the edge, so the same score is worth less there).

* :class:`IsotonicCalibrator` — pool-adjacent-violators (monotone, non-parametric), numpy only;
* :class:`PlattCalibrator` — logistic ``p = 1 / (1 + exp(a·s + b))`` fitted by Newton's method
  with Platt's smoothed targets (robust with few samples);
* :class:`BucketedCalibrator` — one calibrator per (regime, spread bucket) with at least
  ``min_samples`` fitting points, falling back to a global one;
* :func:`reliability_curve` / :func:`expected_calibration_error` — the diagnostics;
* :class:`ECETracker` — ECE per time window, so calibration decay becomes visible.

What it must not do: evaluate on the data it was fitted on — callers fit on an earlier period and
measure on a later one (the tests do exactly that on real data).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "BucketedCalibrator",
    "Calibrator",
    "ECETracker",
    "IsotonicCalibrator",
    "PlattCalibrator",
    "ReliabilityCurve",
    "expected_calibration_error",
    "reliability_curve",
    "spread_bucket",
]

F64 = npt.NDArray[np.float64]


class Calibrator(Protocol):
    def predict(self, scores: npt.ArrayLike) -> F64: ...


def _arrays(scores: npt.ArrayLike, outcomes: npt.ArrayLike) -> tuple[F64, F64]:
    s, y = np.asarray(scores, np.float64), np.asarray(outcomes, np.float64)
    if s.shape != y.shape or s.ndim != 1 or s.size == 0:
        raise ValueError("scores and outcomes must be equal-length, non-empty 1-d arrays")
    return s, y


@dataclass(frozen=True, slots=True)
class IsotonicCalibrator:
    """Step function from PAV: ``x`` block upper bounds (ascending) → block mean outcome ``y``."""

    x: F64
    y: F64

    @classmethod
    def fit(cls, scores: npt.ArrayLike, outcomes: npt.ArrayLike) -> IsotonicCalibrator:
        s, y = _arrays(scores, outcomes)
        order = np.argsort(s, kind="stable")
        s, y = s[order], y[order]
        means: list[float] = []
        weights: list[float] = []
        uppers: list[float] = []
        for xi, yi in zip(s, y, strict=True):
            means.append(float(yi))
            weights.append(1.0)
            uppers.append(float(xi))
            while len(means) > 1 and means[-2] >= means[-1]:
                w = weights[-2] + weights[-1]
                m = (means[-2] * weights[-2] + means[-1] * weights[-1]) / w
                means[-2:], weights[-2:], uppers[-2:] = [m], [w], [uppers[-1]]
        return cls(np.array(uppers), np.array(means))

    def predict(self, scores: npt.ArrayLike) -> F64:
        s = np.asarray(scores, np.float64)
        idx = np.clip(np.searchsorted(self.x, s, side="left"), 0, self.y.size - 1)
        return self.y[idx]


@dataclass(frozen=True, slots=True)
class PlattCalibrator:
    a: float
    b: float

    @classmethod
    def fit(cls, scores: npt.ArrayLike, outcomes: npt.ArrayLike, iterations: int = 100) -> PlattCalibrator:
        s, y = _arrays(scores, outcomes)
        n_pos, n_neg = float(y.sum()), float(y.size - y.sum())
        t = np.where(y > 0.5, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))  # Platt's smoothed targets
        a, b = 0.0, float(np.log((n_neg + 1) / (n_pos + 1)))
        for _ in range(iterations):
            p = 1.0 / (1.0 + np.exp(a * s + b))
            d = t - p  # d(log-loss)/dz with z = a·s + b
            w = np.maximum(p * (1 - p), 1e-12)
            g = np.array([(d * s).sum(), d.sum()])
            h = np.array([[(w * s * s).sum(), (w * s).sum()], [(w * s).sum(), w.sum()]]) + 1e-9 * np.eye(2)
            step = np.linalg.solve(h, g)
            a, b = a - float(step[0]), b - float(step[1])
            if float(np.abs(step).max()) < 1e-10:
                break
        return cls(a, b)

    def predict(self, scores: npt.ArrayLike) -> F64:
        s = np.asarray(scores, np.float64)
        return np.asarray(1.0 / (1.0 + np.exp(self.a * s + self.b)), np.float64)


@dataclass(frozen=True, slots=True)
class ReliabilityCurve:
    """Per confidence bin: mean predicted probability, observed frequency, count."""

    edges: F64
    mean_predicted: F64
    observed: F64
    counts: npt.NDArray[np.int64]


def reliability_curve(probs: npt.ArrayLike, outcomes: npt.ArrayLike, n_bins: int = 10) -> ReliabilityCurve:
    p, y = _arrays(probs, outcomes)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(idx, p, n_bins) / counts
        obs = np.bincount(idx, y, n_bins) / counts
    return ReliabilityCurve(edges, mean_p, obs, counts)


def expected_calibration_error(probs: npt.ArrayLike, outcomes: npt.ArrayLike, n_bins: int = 10) -> float:
    """ECE = Σ_bins (n_b / n) · |observed_b − mean_predicted_b|."""
    c = reliability_curve(probs, outcomes, n_bins)
    used = c.counts > 0
    gaps = np.abs(c.observed[used] - c.mean_predicted[used])
    return float((c.counts[used] * gaps).sum() / c.counts.sum())


def spread_bucket(spread_bps: float, edges: Sequence[float] = (1.0, 3.0, 10.0)) -> int:
    """0 = tightest … len(edges) = widest."""
    return bisect.bisect_right(list(edges), spread_bps)


@dataclass(slots=True)
class BucketedCalibrator:
    """Calibrators per (regime, spread bucket) with a global fallback."""

    method: Literal["isotonic", "platt"] = "isotonic"
    min_samples: int = 200
    spread_edges: tuple[float, ...] = (1.0, 3.0, 10.0)
    models: dict[tuple[str, int], Calibrator] = field(default_factory=dict)
    fallback: Calibrator | None = None

    def _fit_one(self, s: F64, y: F64) -> Calibrator:
        return IsotonicCalibrator.fit(s, y) if self.method == "isotonic" else PlattCalibrator.fit(s, y)

    def fit(
        self,
        scores: npt.ArrayLike,
        outcomes: npt.ArrayLike,
        regimes: Sequence[str],
        spreads_bps: npt.ArrayLike,
    ) -> BucketedCalibrator:
        s, y = _arrays(scores, outcomes)
        buckets = [spread_bucket(float(v), self.spread_edges) for v in np.asarray(spreads_bps, np.float64)]
        keys = np.array([f"{r}|{b}" for r, b in zip(regimes, buckets, strict=True)])
        self.fallback = self._fit_one(s, y)
        self.models = {}
        for key in np.unique(keys):
            mask = keys == key
            if int(mask.sum()) >= self.min_samples:
                regime, bucket = str(key).rsplit("|", 1)
                self.models[(regime, int(bucket))] = self._fit_one(s[mask], y[mask])
        return self

    def predict(self, scores: npt.ArrayLike, regimes: Sequence[str], spreads_bps: npt.ArrayLike) -> F64:
        if self.fallback is None:
            raise ValueError("BucketedCalibrator.predict before fit")
        s = np.asarray(scores, np.float64)
        out = np.empty_like(s)
        for i, (score, regime, spread) in enumerate(zip(s, regimes, np.asarray(spreads_bps), strict=True)):
            model = self.models.get((regime, spread_bucket(float(spread), self.spread_edges)), self.fallback)
            out[i] = model.predict(np.array([score]))[0]
        return out


@dataclass(slots=True)
class ECETracker:
    """Append (time, probability, outcome); ``series`` gives the ECE of each ``window_ms`` window."""

    n_bins: int = 10
    _ts: list[int] = field(default_factory=list)
    _p: list[float] = field(default_factory=list)
    _y: list[float] = field(default_factory=list)

    def add(self, ts_ms: int, prob: float, outcome: bool) -> None:
        self._ts.append(ts_ms)
        self._p.append(prob)
        self._y.append(1.0 if outcome else 0.0)

    def series(self, window_ms: int, min_count: int = 30) -> list[tuple[int, float, int]]:
        """``(window_end_ms, ece, count)`` per consecutive window with at least ``min_count`` points."""
        if not self._ts:
            return []
        ts, p, y = np.array(self._ts), np.array(self._p), np.array(self._y)
        start, end, out = int(ts.min()), int(ts.max()), []
        while start <= end:
            mask = (ts >= start) & (ts < start + window_ms)
            if int(mask.sum()) >= min_count:
                out.append(
                    (
                        start + window_ms,
                        expected_calibration_error(p[mask], y[mask], self.n_bins),
                        int(mask.sum()),
                    )
                )
            start += window_ms
        return out
