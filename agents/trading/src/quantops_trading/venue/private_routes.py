"""Signed Binance spot account/trading routes (``/api/v3/order``, ``openOrders``, ``account``, ...).

Why it exists: ccxt signs these exactly as for the real venue, and the simulator checks the API key,
the HMAC signature and the ``timestamp``/``recvWindow`` before touching the engine, so key handling
and clock skew are exercised end to end. Parameter parsing and Binance's duplicate/unknown-order
semantics live here; matching lives in ``matching.py``.

Duplicate ``newClientOrderId`` is rejected for *any* earlier order of the account on that symbol
(stricter than Binance, which only checks open orders), which is what makes idempotent retries safe.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from aiohttp import web

from quantops_trading.venue.rejects import Reject
from quantops_trading.venue.wire import (
    CLIENT_ID_RE,
    check_signature,
    check_timestamp,
    fmt,
    render_fill,
    render_order,
)

if TYPE_CHECKING:
    from quantops_trading.venue.server import VenueServer

__all__ = ["add_private_routes"]

_SIDES = frozenset({"BUY", "SELL"})
_TYPES = frozenset({"LIMIT", "MARKET", "LIMIT_MAKER"})
_TIFS = frozenset({"GTC", "IOC", "FOK"})


def add_private_routes(sim: VenueServer) -> None:
    """Register the signed routes of ``sim`` on its app."""
    from quantops_trading.venue.server import decimal_param

    generated = itertools.count(1)

    async def auth(request: web.Request) -> tuple[str, dict[str, str]]:
        key = request.headers.get("X-MBX-APIKEY", "")
        secret = sim.secrets.get(key)
        if secret is None:
            raise Reject.bad_api_key()
        body = await request.text() if request.can_read_body else ""
        payload = body if request.method == "POST" and body else request.query_string
        check_signature(payload, secret)
        params = dict(request.query)
        if body:
            params.update(parse_qsl(body, keep_blank_values=True))
        check_timestamp(params, sim.now_ms(), sim.cfg.recv_window_ms)
        return key, params

    def symbol_param(params: dict[str, str]) -> str:
        return sim.symbol_of(params.get("symbol"))

    async def account(request: web.Request) -> web.Response:
        key, _ = await auth(request)
        bal = sim.engine.accounts.get(key, {})
        maker = int(sim.cfg.maker_fee * 10000)
        taker = int(sim.cfg.taker_fee * 10000)
        return web.json_response(
            {
                "makerCommission": maker,
                "takerCommission": taker,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "canTrade": True,
                "canWithdraw": False,
                "canDeposit": False,
                "updateTime": sim.now_ms(),
                "accountType": "SPOT",
                "balances": [
                    {"asset": a, "free": fmt(b.free), "locked": fmt(b.locked)} for a, b in bal.items()
                ],
                "permissions": ["SPOT"],
                "uid": 1,
            }
        )

    async def new_order(request: web.Request) -> web.Response:
        key, p = await auth(request)
        symbol = symbol_param(p)
        side, type_ = p.get("side", ""), p.get("type", "")
        if side not in _SIDES:
            raise Reject.missing_param("side")
        if type_ not in _TYPES:
            raise Reject(-1116, "Invalid orderType.")
        qty = decimal_param(p, "quantity")
        if qty is None or qty <= 0:
            raise Reject.missing_param("quantity")
        price = decimal_param(p, "price")
        tif = p.get("timeInForce", "GTC")
        if type_ == "LIMIT" and tif not in _TIFS:
            raise Reject(-1115, "Invalid timeInForce.")
        client_id = p.get("newClientOrderId") or f"sim{next(generated):012d}"
        if not CLIENT_ID_RE.match(client_id):
            raise Reject.bad_param("newClientOrderId")
        if type_ == "LIMIT_MAKER":
            snap = sim.engine.book(symbol)
            top = snap.asks if side == "BUY" else snap.bids
            if (
                price is not None
                and top
                and ((side == "BUY" and price >= top[0][0]) or (side == "SELL" and price <= top[0][0]))
            ):
                raise Reject(-2010, "Order would immediately match and take.")
            type_ = "LIMIT"
        order = sim.engine.place(key, symbol, side, type_, qty, price, tif, client_id)
        resp = p.get("newOrderRespType", "FULL" if type_ == "MARKET" else "RESULT")
        body = render_order(order, sim.markets[symbol].cfg.venue_id, full=resp == "FULL")
        if resp == "ACK":
            body = {k: body[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId", "transactTime")}
        return web.json_response(body)

    def _ids(p: dict[str, str]) -> tuple[int | None, str | None]:
        raw = p.get("orderId")
        try:
            oid = int(raw) if raw else None
        except ValueError:
            raise Reject.bad_param("orderId") from None
        cid = p.get("origClientOrderId")
        if oid is None and not cid:
            raise Reject(
                -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        return oid, cid

    async def get_order(request: web.Request) -> web.Response:
        key, p = await auth(request)
        symbol = symbol_param(p)
        order = sim.engine.find(key, symbol, *_ids(p))
        return web.json_response(render_order(order, sim.markets[symbol].cfg.venue_id, query=True))

    async def cancel_order(request: web.Request) -> web.Response:
        key, p = await auth(request)
        symbol = symbol_param(p)
        order = sim.engine.cancel(key, symbol, *_ids(p))
        body = render_order(order, sim.markets[symbol].cfg.venue_id)
        body["origClientOrderId"] = order.client_id
        return web.json_response(body)

    async def cancel_all(request: web.Request) -> web.Response:
        key, p = await auth(request)
        symbol = symbol_param(p)
        venue_id = sim.markets[symbol].cfg.venue_id
        out = []
        for o in sim.engine.open_orders(key, symbol):
            sim.engine.cancel(key, symbol, o.order_id, None)
            out.append(render_order(o, venue_id) | {"origClientOrderId": o.client_id})
        return web.json_response(out)

    async def open_orders(request: web.Request) -> web.Response:
        key, p = await auth(request)
        symbol = symbol_param(p) if p.get("symbol") else None
        return web.json_response(
            [
                render_order(o, sim.markets[o.symbol].cfg.venue_id, query=True)
                for o in sim.engine.open_orders(key, symbol)
            ]
        )

    async def all_orders(request: web.Request) -> web.Response:
        key, p = await auth(request)
        symbol = symbol_param(p)
        start = int(p.get("startTime", "0"))
        limit = min(int(p.get("limit", "500")), 1000)
        from_id = int(p.get("orderId", "0"))
        orders = [
            o for o in sim.engine.all_orders(key, symbol) if o.time_ms >= start and o.order_id >= from_id
        ]
        # as Binance: from orderId/startTime oldest first, else the most recent ones
        orders = orders[:limit] if "orderId" in p or "startTime" in p else orders[-limit:]
        venue_id = sim.markets[symbol].cfg.venue_id
        return web.json_response([render_order(o, venue_id, query=True) for o in orders])

    async def my_trades(request: web.Request) -> web.Response:
        key, p = await auth(request)
        symbol = symbol_param(p)
        start = int(p.get("startTime", "0"))
        from_id = int(p.get("fromId", "0"))
        limit = min(int(p.get("limit", "500")), 1000)
        fills = [f for f in sim.engine.my_trades(key, symbol) if f.time_ms >= start and f.trade_id >= from_id]
        fills = fills[:limit] if "fromId" in p or "startTime" in p else fills[-limit:]
        venue_id = sim.markets[symbol].cfg.venue_id
        rendered = [render_fill(f, venue_id) for f in fills]
        if sim.faults.active("wrong_fill"):
            rendered = [{**r, "isBuyer": not r["isBuyer"]} for r in rendered]
        return web.json_response(rendered)

    r = sim.app.router
    r.add_get("/api/v3/account", account)
    r.add_post("/api/v3/order", new_order)
    r.add_get("/api/v3/order", get_order)
    r.add_delete("/api/v3/order", cancel_order)
    r.add_delete("/api/v3/openOrders", cancel_all)
    r.add_get("/api/v3/openOrders", open_orders)
    r.add_get("/api/v3/allOrders", all_orders)
    r.add_get("/api/v3/myTrades", my_trades)
