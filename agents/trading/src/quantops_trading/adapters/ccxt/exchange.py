"""Build a ccxt ``binance`` async client, optionally pointed at a venue simulator.

Why it exists: the simulator speaks Binance spot REST, so the *unmodified* ccxt class is used
against it by rewriting ``urls['api']`` to the simulator's base URL and switching off the calls a
spot-only venue does not serve (sapi currencies, margin pairs, futures markets). The same factory
builds a client for the real venue when ``base_url`` is None. No error handling here.
"""

from __future__ import annotations

import re
from typing import Any

import ccxt.async_support as ccxt_async

__all__ = ["make_binance", "point_at"]

_HOST = re.compile(r"^https?://[^/]+")


def point_at(exchange: Any, base_url: str) -> None:
    """Rewrite every ``urls['api']`` entry's scheme+host to ``base_url`` (paths are kept)."""
    api = exchange.urls["api"]
    for name, url in list(api.items()):
        if isinstance(url, str):
            api[name] = _HOST.sub(base_url.rstrip("/"), url)


def make_binance(
    base_url: str | None,
    api_key: str = "",
    secret: str = "",
    *,
    timeout_ms: int = 10_000,
    recv_window_ms: int = 5_000,
) -> Any:
    """A spot-only ``ccxt.async_support.binance``; pointed at ``base_url`` when given."""
    exchange = ccxt_async.binance(
        {
            "apiKey": api_key,
            "secret": secret,
            "timeout": timeout_ms,
            "enableRateLimit": False,
            "options": {
                "defaultType": "spot",
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "recvWindow": recv_window_ms,
                "adjustForTimeDifference": False,
            },
        }
    )
    if base_url is not None:
        point_at(exchange, base_url)
    return exchange
