"""Benchmark: pre-trade check latency with a full policy, and VaR/ES update time per fill.

Why it exists: every order waits for the risk gateway, so its cost is on the critical path (target
p99 < 100 µs in-process with every rule on), and post-trade VaR/ES must keep up with fills for 50
strategies. Usage: ``.venv/bin/python benchmarks/bench_risk.py [--checks 20000] [--strategies 50]
[--fills 2000]``; prints JSON. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import time
from decimal import Decimal
from typing import Any

import numpy as np

from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.execution.types import Fill, OrderIntent, OrderType, Side, VenueOrder
from quantops_trading.risk import OrderRequest, RiskGateway
from quantops_trading.risk.health import AdverseClusterDetector

PAIRS = [f"C{i}/USDT" for i in range(10)]


class _Null:
    venue = "bench"

    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder:
        raise RuntimeError

    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        raise RuntimeError


def _policy() -> RiskPolicySpec:
    return RiskPolicySpec(
        max_pair_exposure=1e9, pair_exposure_overrides={"C1/USDT": 1e8}, max_gross_exposure=1e10,
        concentration_cap=1.0, risk_budget=1e6, max_consecutive_losses=1000, max_drawdown=0.99,
        var={"confidence": 0.99, "method": "historical", "window": 500, "var_limit": 1e12, "es_limit": 1e12},
        cash_floor=0.0, unwind_ladder=[{"style": "market", "after_seconds": 0, "max_fraction": 1}],
        max_trades_per_minute=10**9, max_orders_per_minute=10**9, max_cancel_to_fill_ratio=1e9,
    )  # fmt: skip


def _gateway(strategies: int) -> tuple[RiskGateway, list[float]]:
    t = [0.0]
    gw = RiskGateway(_Null(), _policy(), clock=lambda: t[0], cluster=AdverseClusterDetector())
    gw.update_cash(Decimal(10**9))
    rng = np.random.default_rng(0)
    prices = dict.fromkeys(PAIRS, 100.0)
    for _ in range(500):
        for p in PAIRS:
            prices[p] *= 1 + rng.normal(0, 0.01)
            gw.on_price(p, Decimal(str(round(prices[p], 6))))
    for s in range(strategies):
        for p in PAIRS[:3]:
            gw.on_fill(f"s{s}", _fill(p, Side.BUY, Decimal("0.5"), gw.book.mark(p), s))
    return gw, t


def _fill(pair: str, side: Side, qty: Decimal, price: Decimal, n: int) -> Fill:
    return Fill(
        venue="bench", symbol=pair, trade_id=f"t{n}", venue_order_id="v", side=side, price=price,
        quantity=qty, fee=Decimal(0), fee_currency="USDT", is_maker=False, timestamp_ms=0,
    )  # fmt: skip


def _pcts(samples: list[float]) -> dict[str, float]:
    a = np.array(samples) * 1e6
    return {"p50_us": round(float(np.percentile(a, 50)), 2), "p99_us": round(float(np.percentile(a, 99)), 2),
            "mean_us": round(float(a.mean()), 2), "n": len(samples)}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--strategies", type=int, default=50)
    parser.add_argument("--fills", type=int, default=2_000)
    args = parser.parse_args(argv)

    gw, t = _gateway(args.strategies)
    reqs = [
        OrderRequest(
            OrderIntent(
                strategy_id=f"s{i % args.strategies}",
                intent_id=f"b{i}",
                symbol=PAIRS[i % len(PAIRS)],
                side=Side.BUY if i % 3 else Side.SELL,
                type=OrderType.MARKET,
                quantity=Decimal("0.1"),
            ),
            Decimal(100),
            expected_edge_bps=50.0,
        )
        for i in range(args.checks)
    ]
    check: list[float] = []
    denied = 0
    for r in reqs:
        t[0] += 0.001
        t0 = time.perf_counter()
        d = gw.evaluate(r)
        check.append(time.perf_counter() - t0)
        denied += d.denied

    fills: list[float] = []
    for i in range(args.fills):
        t[0] += 0.01
        pair = PAIRS[i % 3]
        f = _fill(pair, Side.BUY if i % 2 else Side.SELL, Decimal("0.1"), gw.book.mark(pair), i)
        t0 = time.perf_counter()
        gw.on_fill(f"s{i % args.strategies}", f)  # book + strategy & portfolio VaR/ES + switches
        fills.append(time.perf_counter() - t0)

    result = {
        "benchmark": "risk",
        "pre_trade_check": {
            **_pcts(check),
            "rules": [r.name for r in gw.rules],
            "denied": denied,
            "target_p99_us": 100,
            "meets_target": float(np.percentile(check, 99)) * 1e6 < 100,
        },
        "var_es_update_per_fill": {
            **_pcts(fills),
            "strategies": args.strategies,
            "pairs": len(PAIRS),
            "window": 500,
            "note": "strategy + portfolio VaR/ES, drawdown, breach, cash",
        },
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
