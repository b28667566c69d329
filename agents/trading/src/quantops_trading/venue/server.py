"""The simulator's HTTP face: Binance spot REST routes, auth, faults, latency, and the control API.

Why it exists: the real ccxt ``binance`` class must talk to it unchanged, over real HTTP, so the
execution layer is tested against the same client code that trades live. Requests flow through one
middleware — fault decision → latency → resting-order matching → handler — so every route gets the
same failure modes. ``/_sim/*`` is the control API (faults, clock steps, state); with
``VenueConfig.control_token`` set it requires ``Authorization: Bearer <token>`` (401 otherwise,
before anything is counted or changed); without one it is open — bind to loopback only.

It must not implement matching (``matching.py``) or the wire format (``wire.py``).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from aiohttp import web

from quantops_trading.paths import shared_data_dir
from quantops_trading.venue.books import MarketData, ReplayClock, load_market_data
from quantops_trading.venue.config import FaultRule, VenueConfig
from quantops_trading.venue.faults import FaultInjector, LatencySampler
from quantops_trading.venue.matching import MatchingEngine
from quantops_trading.venue.private_routes import add_private_routes
from quantops_trading.venue.public_routes import add_public_routes
from quantops_trading.venue.rejects import Reject

__all__ = ["VenueServer", "decimal_param"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def decimal_param(params: dict[str, str], name: str) -> Decimal | None:
    """A decimal request parameter, or a Binance -1100 reject when it is malformed."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise Reject.bad_param(name) from None
    if not value.is_finite():
        raise Reject.bad_param(name)
    return value


def reject_response(r: Reject, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"code": r.code, "msg": r.msg}, status=r.status, headers=headers)


class VenueServer:
    """One simulated venue: engine + faults + aiohttp app, started on ``host:port``."""

    def __init__(
        self,
        cfg: VenueConfig,
        data_dir: Path | None = None,
        markets: dict[str, MarketData] | None = None,
        wall_ms: Callable[[], int] | None = None,
    ) -> None:
        self.cfg = cfg
        data = data_dir or shared_data_dir()
        self.markets = markets or {
            s.symbol: load_market_data(s, data, cfg.data_offset_ms) for s in cfg.symbols
        }
        self.by_venue_id = {md.cfg.venue_id: md.cfg.symbol for md in self.markets.values()}
        self._wall_ms = wall_ms or (lambda: int(time.time() * 1000))
        self.clock = ReplayClock(cfg.speed)
        self.faults = FaultInjector(cfg.faults, cfg.seed)
        self.latency = LatencySampler(cfg.latency, cfg.seed)
        self.engine = MatchingEngine(cfg, self.markets, self.clock, self.now_ms)
        unresolved = [k.secret_ref for k in cfg.api_keys if not (k.key and k.secret)]
        if unresolved:
            raise ValueError(f"accounts not resolved from their Secrets: {unresolved}")
        self.secrets = {str(k.key): str(k.secret) for k in cfg.api_keys}
        self.requests = 0
        self.stale_since_ms: int | None = None
        self.app = web.Application(middlewares=[self._middleware])
        add_public_routes(self)
        add_private_routes(self)
        self._add_control_routes()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def now_ms(self) -> int:
        """Server wall clock in ms, including any injected clock skew."""
        return self._wall_ms() + self.faults.skew_ms

    def symbol_of(self, venue_id: str | None) -> str:
        """ccxt symbol for a Binance id ("BTCUSDT" → "BTC/USDT"), or -1121."""
        if not venue_id or venue_id not in self.by_venue_id:
            raise Reject.bad_symbol()
        return self.by_venue_id[venue_id]

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Bind and serve; returns the base URL (``http://127.0.0.1:<port>``)."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        assert server is not None
        sock = server.sockets[0]  # type: ignore[attr-defined]  # asyncio.Server has .sockets
        self.url = f"http://{host}:{sock.getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- the one request pipeline -----------------------------------------------------------------
    def _control_refusal(self, request: web.Request) -> web.Response | None:
        """401 for a ``/_sim`` request without the configured control token, else None."""
        want = self.cfg.control_token
        if want is None or not request.path.startswith("/_sim"):
            return None
        scheme, _, got = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(got.strip().encode(), want.encode()):
            return None
        return web.json_response(
            {"error": "Authorization: Bearer <control token> required for /_sim (not the exchange API key)"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="quantops-venue-sim"'},
        )

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = self._control_refusal(request)
        if refused is not None:
            return refused
        self.requests += 1
        fault = self.faults.decide(request.method, request.path)
        stale = self.faults.stale_book
        if stale and self.stale_since_ms is None:
            self.stale_since_ms = self.now_ms()
        elif not stale:
            self.stale_since_ms = None
        for symbol in self.markets:
            self.engine.freeze(symbol, stale)
        if fault is not None:
            early = await self._early_fault(request, fault)
            if early is not None:
                return early
        delay = self.latency.sample_s()
        if delay > 0:
            await asyncio.sleep(delay)
        if not request.path.startswith("/_sim"):
            self.engine.match_resting()
        try:
            response = await handler(request)
        except Reject as r:
            response = reject_response(r)
        if fault is not None and fault.kind == "drop_after_accept":
            self._drop(request)
        if fault is not None and fault.kind == "slow_ack":
            await asyncio.sleep(fault.delay_s)  # accepted; the client waits (or dies) for the answer
        return response

    async def _early_fault(self, request: web.Request, fault: FaultRule) -> web.StreamResponse | None:
        retry = {"Retry-After": str(fault.retry_after_s)}
        if fault.kind == "rate_limit":
            return reject_response(Reject.too_many_requests(), retry)
        if fault.kind == "ban":
            return reject_response(Reject.banned(), retry)
        if fault.kind == "maintenance":
            return reject_response(Reject.maintenance())
        if fault.kind == "server_error":
            return web.Response(status=fault.status, text="<html><body>Bad Gateway</body></html>",
                                content_type="text/html")  # fmt: skip
        if fault.kind == "drop_connection":
            self._drop(request)
            return web.Response(status=500)
        if fault.kind == "timeout":
            await asyncio.sleep(fault.delay_s)  # then process: the client gave up, the venue did not
        return None

    @staticmethod
    def _drop(request: web.Request) -> None:
        transport = request.transport
        if transport is not None:
            transport.abort()

    # -- control API ------------------------------------------------------------------------------
    def _add_control_routes(self) -> None:
        r = self.app.router
        r.add_get("/_sim/state", self._state)
        r.add_get("/_sim/faults", self._list_faults)
        r.add_post("/_sim/faults", self._add_fault)
        r.add_delete("/_sim/faults", self._clear_faults)
        r.add_delete("/_sim/faults/{rule_id}", self._clear_faults)
        r.add_post("/_sim/step", self._step)
        r.add_post("/_sim/speed", self._speed)

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "name": self.cfg.name,
                "elapsedMs": self.clock.elapsed_ms,
                "requests": self.requests,
                "balances": {  # per API key (its id, never its secret): what an audit compares to
                    key: {a: str(b.free + b.locked) for a, b in sorted(acct.items())}
                    for key, acct in sorted(self.engine.accounts.items())
                },
                "orders": [
                    {
                        "orderId": o.order_id,
                        "clientOrderId": o.client_id,
                        "symbol": o.symbol,
                        "side": o.side,
                        "status": o.status,
                        "executedQty": str(o.executed),
                        "account": o.account,  # the API key id (never its secret)
                        "fills": [
                            {
                                "tradeId": f.trade_id,
                                "price": str(f.price),
                                "qty": str(f.qty),
                                "commission": str(f.commission),
                                "commissionAsset": f.commission_asset,
                                "isBuyer": f.is_buyer,
                            }
                            for f in o.fills
                        ],
                    }
                    for o in self.engine.orders.values()
                ],
            }
        )

    async def _list_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.listing())

    async def _add_fault(self, request: web.Request) -> web.Response:
        try:
            rule = FaultRule.model_validate(await request.json())
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response({"id": self.faults.add(rule)})

    async def _clear_faults(self, request: web.Request) -> web.Response:
        rid = request.match_info.get("rule_id")
        self.faults.remove(int(rid) if rid is not None else None)
        return web.json_response({"faults": self.faults.listing()})

    async def _step(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json() if request.can_read_body else {}
        elapsed = self.clock.step(int(body.get("ms", 1000)))
        fills = self.engine.match_resting()
        return web.json_response({"elapsedMs": elapsed, "fills": fills})

    async def _speed(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        self.clock.set_speed(float(body["speed"]))
        return web.json_response({"elapsedMs": self.clock.elapsed_ms})
