"""venue-sim: a local exchange speaking Binance spot REST, for the real ccxt client.

A matching engine over replayed real books (``books``, ``matching``), Binance's wire dialect and
error shapes (``wire``, ``rejects``), fault injection (``faults``) and the aiohttp server
(``server``). Run it with ``python -m quantops_trading.venue --port 0 --config venue.yaml``.
It must never be imported by strategy code: agents reach it only through ccxt over HTTP.
"""

from quantops_trading.venue.config import (
    ApiKey,
    FaultRule,
    LatencyModel,
    SlippageModel,
    SymbolConfig,
    VenueConfig,
    load_config,
)
from quantops_trading.venue.server import VenueServer

__all__ = [
    "ApiKey",
    "FaultRule",
    "LatencyModel",
    "SlippageModel",
    "SymbolConfig",
    "VenueConfig",
    "VenueServer",
    "load_config",
]
