"""Build a ccxt ``binance`` async client, optionally pointed at a venue simulator.

Why it exists: the simulator speaks Binance spot REST, so the *unmodified* ccxt class is used
against it by rewriting ``urls['api']`` to the simulator's base URL and switching off the calls a
spot-only venue does not serve (sapi currencies, margin pairs, futures markets). The same factory
builds a client for the real venue when ``base_url`` is None. Keys not passed as arguments come
from the environment or a mounted Secret (:mod:`.credentials`); a live venue without them fails
here, naming the missing key, instead of at the first signed call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import ccxt.async_support as ccxt_async

from quantops_trading.adapters.ccxt.credentials import load_credentials

__all__ = ["make_binance", "point_at"]

log = logging.getLogger("quantops.adapters.ccxt")

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
    environ: Mapping[str, str] | None = None,
) -> Any:
    """A spot-only ``ccxt.async_support.binance``; pointed at ``base_url`` when given.

    Empty ``api_key``/``secret`` are filled from the environment or the credentials directory;
    with ``base_url`` None (the live venue) both must then be present.
    """
    creds = load_credentials(api_key, secret, environ=environ)
    if base_url is None:
        creds.require("binance")
    log.info("binance client for %s with %r", base_url or "the live venue", creds)
    exchange = ccxt_async.binance(
        {
            "apiKey": creds.api_key,
            "secret": creds.secret,
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
