"""VaR/ES (55) against an independent reference, and the pre-/post-trade checks that use them."""

from __future__ import annotations

import math
from decimal import Decimal
from statistics import NormalDist

import numpy as np
import pytest
from risk_support import fill, gateway, permissive, req

from quantops_api import Gate
from quantops_trading.risk.var import ReturnHistory, estimate, loss_estimate


def _ref_historical(losses: np.ndarray, c: float) -> tuple[float, float]:
    var = float(np.quantile(losses, c, method="inverted_cdf"))
    return var, float(losses[losses >= var].mean())


def _ref_normal(sigma: float, c: float) -> tuple[float, float]:
    """ES by numerical integration of the normal tail (not the closed form the code uses)."""
    z = np.linspace(-12, 12, 400_001)
    pdf = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    cdf = np.cumsum(pdf) * (z[1] - z[0])
    zc = float(np.interp(c, cdf, z))
    tail = z >= zc
    es = float(np.trapezoid(z[tail] * pdf[tail], z[tail]) / (1 - c))
    return zc * sigma, es * sigma


@pytest.mark.parametrize("c", [0.9, 0.95, 0.975, 0.99])
@pytest.mark.parametrize("n", [20, 137, 500])
def test_historical_matches_numpy_quantile(c: float, n: int) -> None:
    losses = np.random.default_rng(n).standard_t(4, size=n) * 100
    est = loss_estimate(losses, c, "historical")
    assert est is not None
    var, es = _ref_historical(losses, c)
    assert est.var == pytest.approx(var) and est.es == pytest.approx(es)
    assert est.es >= est.var


@pytest.mark.parametrize("c", [0.9, 0.99])
def test_parametric_matches_numerical_normal(c: float) -> None:
    losses = np.random.default_rng(3).normal(0, 50, size=400)
    est = loss_estimate(losses, c, "parametric")
    assert est is not None
    var, es = _ref_normal(float(np.std(losses, ddof=1)), c)
    assert est.var == pytest.approx(var, rel=1e-4) and est.es == pytest.approx(es, rel=1e-3)
    assert NormalDist(0, float(np.std(losses, ddof=1))).cdf(est.var) == pytest.approx(c)


def test_ewma_weights_recent_volatility_more() -> None:
    calm, wild = np.full(200, 1.0), np.full(30, 10.0)
    rng = np.random.default_rng(5)
    signs = rng.choice([-1.0, 1.0], size=230)
    recent_wild = loss_estimate(np.concatenate([calm, wild]) * signs, 0.99, "ewma")
    old_wild = loss_estimate(np.concatenate([wild, calm]) * signs, 0.99, "ewma")
    assert recent_wild is not None and old_wild is not None
    assert recent_wild.var > 5 * old_wild.var
    lam = 0.94
    x = np.concatenate([calm, wild]) * signs
    w = lam ** np.arange(len(x))[::-1]
    sigma = math.sqrt(sum(wi * xi * xi for wi, xi in zip(w, x, strict=True)) / w.sum())
    assert recent_wild.var == pytest.approx(NormalDist().inv_cdf(0.99) * sigma)


def test_portfolio_estimate_is_the_loss_of_the_exposure_weighted_returns() -> None:
    rng = np.random.default_rng(11)
    r = rng.normal(0, 0.02, size=(300, 2))
    h = ReturnHistory(window=500)
    for a, b in r:
        h.add_return("BTC/USDT", float(a))
        h.add_return("ETH/USDT", float(b))
    est = estimate(h, {"BTC/USDT": 1000.0, "ETH/USDT": -500.0}, 0.95, "historical")
    pnl = [1000.0 * a - 500.0 * b for a, b in r]
    ref_var, _ = _ref_historical(-np.array(pnl), 0.95)
    assert est is not None and est.var == pytest.approx(ref_var)
    assert estimate(h, {}, 0.95, "historical") is not None
    assert estimate(ReturnHistory(), {"X": 1.0}, 0.95, "historical") is None  # not enough history


def _volatile_history(gw: object, pair: str = "BTC/USDT") -> None:
    px = 100.0
    rng = np.random.default_rng(1)
    for _ in range(100):
        px *= 1 + rng.normal(0, 0.02)
        gw.on_price(pair, Decimal(str(round(px, 4))))  # type: ignore[attr-defined]
    gw.on_price(pair, Decimal(100))  # type: ignore[attr-defined]


async def test_pre_trade_var_denies_only_orders_that_add_risk() -> None:
    gw, _, _ = gateway(permissive(var={"confidence": 0.99, "var_limit": 50.0, "window": 50}))
    _volatile_history(gw)
    assert not (await gw.submit(req("buy", "5"))).denied  # ~500 notional × ~5% → ~23 VaR
    d = await gw.submit(req("buy", "20"))
    assert d.denied and d.reasons[0][0] == "var"
    gw.on_fill("alpha", fill("buy", "15", "100"))  # post-trade: over the limit → PAUSE
    assert gw.scope_gate("strategy/alpha") is Gate.PAUSE
    assert not (await gw.submit(req("sell", "10", reduce_only=True))).denied  # reduces risk
    gw.on_fill("alpha", fill("sell", "10", "100"))
    assert gw.scope_gate("strategy/alpha") is Gate.GO


async def test_portfolio_es_limit_across_strategies() -> None:
    gw, _, _ = gateway(permissive(var={"confidence": 0.95, "es_limit": 60.0, "method": "parametric"}))
    _volatile_history(gw)
    gw.on_fill("alpha", fill("buy", "8", "100"))  # ES ≈ 41 < 60
    assert gw.scope_gate("global") is Gate.GO
    d = await gw.submit(req("buy", "8", strategy="beta"))  # beta alone ≈ 41, portfolio ≈ 81
    assert d.denied and [r for r, _ in d.reasons] == ["var"] and "portfolio" in d.reasons[0][1]
    assert not (await gw.submit(req("sell", "8", strategy="beta"))).denied  # hedges the portfolio
