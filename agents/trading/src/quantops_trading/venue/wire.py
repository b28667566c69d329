"""Binance spot REST shapes: JSON rendering of books, orders, fills and markets, and request auth.

Why it exists: ccxt's ``binance`` parser reads specific field names (``cummulativeQuoteQty`` with
Binance's spelling, ``permissionSets``, ``T`` on depth, ...), and signs requests exactly as for the
real venue (HMAC-SHA256 of the query string, ``X-MBX-APIKEY`` header, ``timestamp`` within
``recvWindow``). Keeping the dialect here lets ``server.py`` stay routing and the matching engine
stay dialect-free. Numbers go out as plain decimal strings, never floats or exponent notation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal
from typing import Any

from quantops_trading.venue.books import Bar, BookSnapshot, PublicTrade
from quantops_trading.venue.config import SymbolConfig
from quantops_trading.venue.matching import SimFill, SimOrder
from quantops_trading.venue.rejects import Reject

__all__ = [
    "INTERVALS_MS",
    "check_signature",
    "check_timestamp",
    "fmt",
    "render_bar",
    "render_book",
    "render_fill",
    "render_market",
    "render_order",
]

CLIENT_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")
INTERVALS_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000,
    "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
}  # fmt: skip


def fmt(d: Decimal) -> str:
    """A decimal as Binance prints it: fixed point, no exponent."""
    return format(d.normalize(), "f") if d == d.to_integral() else format(d, "f")


def check_signature(payload: str, secret: str) -> None:
    """Verify ``...&signature=<hex>`` over the rest of the payload (query string or body)."""
    parts = payload.split("&")
    sigs = [p[len("signature=") :] for p in parts if p.startswith("signature=")]
    if len(sigs) != 1:
        raise Reject.missing_param("signature")
    signed = "&".join(p for p in parts if not p.startswith("signature="))
    expected = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, sigs[0].lower()):
        raise Reject.bad_signature()


def check_timestamp(params: dict[str, str], server_ms: int, default_window: int) -> None:
    """Binance's rule: reject if ``timestamp`` is >1 s ahead or older than ``recvWindow``."""
    try:
        ts = int(params["timestamp"])
        window = int(params.get("recvWindow", default_window))
    except (KeyError, ValueError):
        raise Reject.missing_param("timestamp") from None
    if ts > server_ms + 1000:
        raise Reject.ahead_of_server()
    if server_ms - ts > min(window, 60_000):
        raise Reject.outside_recv_window()


def render_market(sc: SymbolConfig) -> dict[str, Any]:
    return {
        "symbol": sc.venue_id,
        "status": "TRADING",
        "baseAsset": sc.base,
        "baseAssetPrecision": 8,
        "quoteAsset": sc.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "quoteOrderQtyMarketAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(sc.tick_size),
                "maxPrice": "1000000",
                "tickSize": fmt(sc.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(sc.min_qty),
                "maxQty": fmt(sc.max_qty),
                "stepSize": fmt(sc.step_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fmt(sc.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def render_book(snap: BookSnapshot, limit: int, ts_ms: int) -> dict[str, Any]:
    return {
        "lastUpdateId": snap.update_id,
        "E": ts_ms,
        "T": ts_ms,
        "bids": [[fmt(p), fmt(q)] for p, q in snap.bids[:limit]],
        "asks": [[fmt(p), fmt(q)] for p, q in snap.asks[:limit]],
    }


def render_bar(b: Bar, interval_ms: int) -> list[Any]:
    quote = b.close * b.volume
    return [b.ts_ms, fmt(b.open), fmt(b.high), fmt(b.low), fmt(b.close), fmt(b.volume),
            b.ts_ms + interval_ms - 1, fmt(quote), 0, "0", "0", "0"]  # fmt: skip


def render_public_trade(t: PublicTrade) -> dict[str, Any]:
    return {"a": t.trade_id, "p": fmt(t.price), "q": fmt(t.qty), "f": t.trade_id,
            "l": t.trade_id, "T": t.ts_ms, "m": t.buyer_maker, "M": True}  # fmt: skip


def render_order(o: SimOrder, venue_id: str, *, full: bool = False, query: bool = False) -> dict[str, Any]:
    """An order as POST/GET/DELETE /api/v3/order return it (``full`` adds fills, ``query`` times)."""
    out: dict[str, Any] = {
        "symbol": venue_id,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_id,
        "transactTime": o.time_ms,
        "price": fmt(o.price),
        "origQty": fmt(o.qty),
        "executedQty": fmt(o.executed),
        "cummulativeQuoteQty": fmt(o.quote),
        "status": o.status,
        "timeInForce": o.tif,
        "type": o.type,
        "side": o.side,
        "workingTime": o.time_ms,
        "selfTradePreventionMode": "NONE",
    }
    if query:
        del out["transactTime"]
        out |= {
            "stopPrice": "0",
            "icebergQty": "0",
            "time": o.time_ms,
            "updateTime": o.update_ms,
            "isWorking": True,
            "origQuoteOrderQty": "0",
        }
    if full:
        out["fills"] = [
            {
                "price": fmt(f.price),
                "qty": fmt(f.qty),
                "commission": fmt(f.commission),
                "commissionAsset": f.commission_asset,
                "tradeId": f.trade_id,
            }
            for f in o.fills
        ]
    return out


def render_fill(f: SimFill, venue_id: str) -> dict[str, Any]:
    """One of the account's trades as GET /api/v3/myTrades returns it."""
    return {
        "symbol": venue_id,
        "id": f.trade_id,
        "orderId": f.order_id,
        "orderListId": -1,
        "price": fmt(f.price),
        "qty": fmt(f.qty),
        "quoteQty": fmt(f.price * f.qty),
        "commission": fmt(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.time_ms,
        "isBuyer": f.is_buyer,
        "isMaker": f.is_maker,
        "isBestMatch": True,
    }
