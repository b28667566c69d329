"""Execution benchmarks (not timed tests): print JSON.

1. ``orders_per_second``: limit orders through the real ccxt binance client → simulator over
   loopback HTTP → ack, sequential and with N concurrent submitters, via the VenueConnector and via
   raw ccxt (to show the connector's own overhead).
2. ``matching_events_per_second``: the matching engine alone on the real BTC/USDT L2 book —
   place/cancel events and replay steps with resting orders matched.

Run: ``.venv/bin/python benchmarks/bench_execution.py [--orders 300] [--concurrency 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from decimal import Decimal

from prometheus_client import CollectorRegistry

from quantops_trading.adapters.ccxt import CcxtExecutionClient, make_binance
from quantops_trading.execution.connector import ConnectorConfig, VenueConnector
from quantops_trading.execution.latency import LatencyTracker
from quantops_trading.execution.types import OrderIntent, OrderType, Side
from quantops_trading.paths import shared_data_dir
from quantops_trading.venue.books import ReplayClock, load_market_data
from quantops_trading.venue.config import ApiKey
from quantops_trading.venue.matching import MatchingEngine
from quantops_trading.venue.testing import API_KEY, API_SECRET, running_venue, sample_config


def _intent(k: int) -> OrderIntent:
    return OrderIntent(
        strategy_id="bench", intent_id=f"b{k}", symbol="BTC/USDT", side=Side.BUY, type=OrderType.LIMIT,
        quantity=Decimal("0.001"), price=Decimal("50000") + Decimal(k % 100) / 100,
    )  # fmt: skip


async def bench_http(orders: int, concurrency: int) -> dict[str, object]:
    out: dict[str, object] = {}
    async with running_venue() as sim:
        ex = make_binance(sim.url, API_KEY, API_SECRET)
        await ex.load_markets()
        t0 = time.perf_counter()
        for k in range(orders):
            await ex.create_order(
                "BTC/USDT", "limit", "buy", "0.001", "50000", {"newClientOrderId": f"raw{k}"}
            )
        out["raw_ccxt_sequential_ops"] = round(orders / (time.perf_counter() - t0), 1)
        await ex.close()

        registry = CollectorRegistry()
        client = CcxtExecutionClient(make_binance(sim.url, API_KEY, API_SECRET), "sim")
        conn = VenueConnector(
            client,
            config=ConnectorConfig(warmup_heartbeats=1, check_books=False),
            latency=LatencyTracker("sim", registry, p99_bound_s=10),
        )
        await conn.start()
        t0 = time.perf_counter()
        for k in range(orders):
            await conn.submit(_intent(k))
        out["connector_sequential_ops"] = round(orders / (time.perf_counter() - t0), 1)

        sem = asyncio.Semaphore(concurrency)

        async def one(k: int) -> None:
            async with sem:
                await conn.submit(_intent(orders + k))

        t0 = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(orders)))
        out[f"connector_concurrent{concurrency}_ops"] = round(orders / (time.perf_counter() - t0), 1)
        p99 = conn.latency.p99
        out["submit_ack_p99_ms"] = round(p99 * 1000, 2) if p99 is not None else None
        conn.config = ConnectorConfig(check_books=True)
        t0 = time.perf_counter()
        for k in range(orders // 3):
            await conn.submit(_intent(3 * orders + k))
        out["connector_with_book_check_ops"] = round((orders // 3) / (time.perf_counter() - t0), 1)
        await client.close()
    return out


def bench_matching(events: int) -> dict[str, object]:
    rich = ApiKey(key=API_KEY, secret=API_SECRET, balances={"USDT": Decimal(10**9), "BTC": Decimal(10**4)})
    cfg = sample_config(api_keys=[rich])
    markets = {s.symbol: load_market_data(s, shared_data_dir(), 0) for s in cfg.symbols}
    clock = ReplayClock()
    eng = MatchingEngine(cfg, markets, clock, lambda: 0)
    t0 = time.perf_counter()
    ids: list[int] = []
    for k in range(events):
        book = eng.book("BTC/USDT")
        bid, ask = book.bids[0][0], book.asks[0][0]
        if k % 4 == 3 and ids:
            o = eng.orders[ids.pop()]
            if o.status in ("NEW", "PARTIALLY_FILLED"):
                eng.cancel(o.account, o.symbol, o.order_id, None)
        elif k % 4 == 2:
            eng.place(API_KEY, "BTC/USDT", "SELL", "MARKET", Decimal("0.001"), None, "GTC", f"m{k}")
        else:
            px = bid - Decimal(k % 5) / 100 if k % 2 else ask + Decimal(k % 5) / 100
            side = "BUY" if k % 2 else "SELL"
            ids.append(
                eng.place(API_KEY, "BTC/USDT", side, "LIMIT", Decimal("0.001"), px, "GTC", f"l{k}").order_id
            )
    place_rate = events / (time.perf_counter() - t0)
    steps = 2000
    t0 = time.perf_counter()
    fills = 0
    for _ in range(steps):
        clock.step(100)
        fills += eng.match_resting()
    step_rate = steps / (time.perf_counter() - t0)
    return {
        "order_events_per_second": round(place_rate, 1),
        "replay_steps_per_second": round(step_rate, 1),
        "resting_orders": sum(1 for o in eng.orders.values() if o.status in ("NEW", "PARTIALLY_FILLED")),
        "fills_during_replay": fills,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    result = {
        "python": platform.python_version(),
        "orders": args.orders,
        "orders_per_second": asyncio.run(bench_http(args.orders, args.concurrency)),
        "matching_engine": bench_matching(args.events),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
