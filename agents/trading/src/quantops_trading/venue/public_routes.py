"""Unsigned Binance spot market-data routes (``/api/v3/time``, ``exchangeInfo``, ``depth``, ...).

Why it exists: ccxt's ``load_markets``, ``fetch_time``, ``fetch_ticker(s)``, ``fetch_order_book``,
``fetch_ohlcv`` and ``fetch_trades`` hit exactly these paths and parse exactly these shapes. Data
comes from the replayed books, bars and trades; timestamps of books are server time (the book is
"live") unless a stale-book fault froze it. Must not mutate engine state.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from quantops_trading.venue.rejects import Reject
from quantops_trading.venue.wire import (
    INTERVALS_MS,
    fmt,
    render_bar,
    render_book,
    render_market,
    render_public_trade,
)

if TYPE_CHECKING:
    from quantops_trading.venue.server import VenueServer

__all__ = ["add_public_routes"]


def _int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise Reject.bad_param(name) from None


def add_public_routes(sim: VenueServer) -> None:
    """Register the market-data routes of ``sim`` on its app."""

    async def ping(request: web.Request) -> web.Response:
        return web.json_response({})

    async def server_time(request: web.Request) -> web.Response:
        return web.json_response({"serverTime": sim.now_ms()})

    async def exchange_info(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": sim.now_ms(),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                    },
                    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                ],
                "exchangeFilters": [],
                "symbols": [render_market(md.cfg) for md in sim.markets.values()],
            }
        )

    def book_ts() -> int:
        return sim.stale_since_ms if sim.stale_since_ms is not None else sim.now_ms()

    async def depth(request: web.Request) -> web.Response:
        symbol = sim.symbol_of(request.query.get("symbol"))
        limit = min(_int(request, "limit", 100), 5000)
        snap = sim.engine.book(symbol)
        if sim.faults.active("crossed_book"):
            snap = dataclasses.replace(snap, bids=snap.asks, asks=snap.bids)
        if sim.faults.active("price_glitch"):
            snap = dataclasses.replace(
                snap,
                bids=tuple((p / 1000, q) for p, q in snap.bids),
                asks=tuple((p / 1000, q) for p, q in snap.asks),
            )
        return web.json_response(render_book(snap, limit, book_ts()))

    def ticker(symbol: str) -> dict[str, Any]:
        md = sim.markets[symbol]
        snap = sim.engine.book(symbol)
        day = md.bars(sim.clock.elapsed_ms, 86_400_000, 1)
        trades = md.trades(sim.clock.elapsed_ms, 1)
        bid, bid_q = snap.bids[0] if snap.bids else (Decimal(0), Decimal(0))
        ask, ask_q = snap.asks[0] if snap.asks else (Decimal(0), Decimal(0))
        last = trades[-1].price if trades else (bid + ask) / 2
        last_q = trades[-1].qty if trades else Decimal(0)
        o = day[0].open if day else last
        return {
            "symbol": md.cfg.venue_id,
            "priceChange": fmt(last - o),
            "priceChangePercent": fmt(((last - o) / o * 100).quantize(Decimal("0.001"))) if o else "0",
            "weightedAvgPrice": fmt(last),
            "prevClosePrice": fmt(o),
            "lastPrice": fmt(last),
            "lastQty": fmt(last_q),
            "bidPrice": fmt(bid),
            "bidQty": fmt(bid_q),
            "askPrice": fmt(ask),
            "askQty": fmt(ask_q),
            "openPrice": fmt(o),
            "highPrice": fmt(max(day[0].high, last) if day else last),
            "lowPrice": fmt(min(day[0].low, last) if day else last),
            "volume": fmt(day[0].volume if day else Decimal(0)),
            "quoteVolume": fmt(day[0].volume * last if day else Decimal(0)),
            "openTime": book_ts() - 86_400_000,
            "closeTime": book_ts(),
            "firstId": 0,
            "lastId": trades[-1].trade_id if trades else 0,
            "count": 0,
        }

    async def ticker_24hr(request: web.Request) -> web.Response:
        venue_id = request.query.get("symbol")
        if venue_id is not None:
            return web.json_response(ticker(sim.symbol_of(venue_id)))
        return web.json_response([ticker(s) for s in sim.markets])

    async def klines(request: web.Request) -> web.Response:
        symbol = sim.symbol_of(request.query.get("symbol"))
        interval = INTERVALS_MS.get(request.query.get("interval", ""))
        if interval is None:
            raise Reject(-1120, "Invalid interval.")
        limit = min(_int(request, "limit", 500), 1000)
        start = _int(request, "startTime", 0)
        end = _int(request, "endTime", 2**62)
        bars = [
            b
            for b in sim.markets[symbol].bars(sim.clock.elapsed_ms, interval, 100_000)
            if start <= b.ts_ms <= end
        ]
        bars = bars[:limit] if start else bars[-limit:]
        return web.json_response([render_bar(b, interval) for b in bars])

    async def agg_trades(request: web.Request) -> web.Response:
        symbol = sim.symbol_of(request.query.get("symbol"))
        limit = min(_int(request, "limit", 500), 1000)
        trades = sim.markets[symbol].trades(sim.clock.elapsed_ms, limit)
        return web.json_response([render_public_trade(t) for t in trades])

    r = sim.app.router
    r.add_get("/api/v3/ping", ping)
    r.add_get("/api/v3/time", server_time)
    r.add_get("/api/v3/exchangeInfo", exchange_info)
    r.add_get("/api/v3/depth", depth)
    r.add_get("/api/v3/ticker/24hr", ticker_24hr)
    r.add_get("/api/v3/klines", klines)
    r.add_get("/api/v3/aggTrades", agg_trades)
