"""49: horizon selection from realised alpha persistence, using only returns that have ended."""

from __future__ import annotations

import math

import numpy as np
import pytest
from strat_support import ETH_BTC_1M, bars, run

from quantops_trading.signals import realised_ic, select_horizon
from quantops_trading.strategies import MeanReversion
from quantops_trading.strategy import Signal

HORIZONS = (1, 5, 15, 60)


def _planted(lag: int, n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A signal that predicts the return over the next ``lag`` bars, spread evenly over them."""
    rng = np.random.default_rng(seed)
    s = rng.normal(size=n)
    r = rng.normal(scale=1e-3, size=n)
    for i in range(n - lag):
        r[i + 1 : i + lag + 1] += 3e-4 * s[i] / lag
    return s, 100 * np.exp(np.cumsum(r))


@pytest.mark.parametrize("lag", [5, 15])
def test_sig_horizon_finds_planted_persistence(lag: int) -> None:
    s, close = _planted(lag)
    choice = select_horizon(s, close, t=3999, horizons=HORIZONS, lookback=2000)
    assert choice.horizon == lag and choice.ic[lag] > 0.1
    assert choice.half_life is not None and choice.half_life > lag


def test_sig_horizon_uses_only_ended_returns() -> None:
    s, close = _planted(15)
    t = 2500
    base = select_horizon(s, close, t, HORIZONS, lookback=1000)
    future = close.copy()
    future[t + 1 :] = future[t + 1 :] * np.linspace(1.0, 3.0, future.size - t - 1)  # wreck the future
    assert select_horizon(s, future, t, HORIZONS, lookback=1000) == base
    future[t] *= 1.01  # but the present counts
    assert select_horizon(s, future, t, HORIZONS, lookback=1000).ic != base.ic


def test_sig_horizon_on_real_mean_reversion_signals() -> None:
    data = bars(ETH_BTC_1M, "ETH/BTC@bittrex")
    by_ts = {
        o.ts_ms: o.attribution["zscore"]
        for o in run(MeanReversion(MeanReversion.Params()), data)
        if isinstance(o, Signal)
    }
    sig = np.array([-by_ts.get(b.ts_ms, math.nan) for b in data])  # fade the z-score
    close = np.array([b.close for b in data])
    t = len(data) - 1
    choice = select_horizon(sig, close, t, HORIZONS, lookback=5000)
    assert choice.horizon in HORIZONS and all(math.isfinite(v) for v in choice.ic.values())
    cut = 9000
    truncated = select_horizon(sig[: cut + 1], close[: cut + 1], cut, HORIZONS, lookback=5000)
    assert select_horizon(sig, close, cut, HORIZONS, lookback=5000) == truncated
    short = realised_ic(sig, close, 100, HORIZONS, 500)
    assert all(math.isnan(v) for v in short.values())
    assert select_horizon(sig, close, 100, HORIZONS, lookback=500, default=15).horizon == 15
