"""Configuration of one simulated venue (the file passed to ``python -m quantops_trading.venue``).

Why it exists: several simulator instances run side by side as *different* venues (fees, latency,
data offsets, faults), so everything that differs between them is data in one validated model,
never a code branch. It must not read files or touch the network; loading books is ``books.py``.

Wire format is camelCase (STYLE 2.3); YAML or JSON are both accepted by :func:`load_config`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "ApiKey",
    "FaultRule",
    "LatencyModel",
    "SlippageModel",
    "SymbolConfig",
    "VenueConfig",
    "load_config",
]

FaultKind = Literal[
    "rate_limit",  # 429 + Retry-After, Binance -1003 body
    "ban",  # 418 + Retry-After (IP auto-banned)
    "server_error",  # 5xx with a non-JSON body (gateway error)
    "maintenance",  # 503 {"code": -1, "msg": "System is under maintenance."}
    "timeout",  # hold the request longer than the client waits
    "drop_connection",  # close the socket before doing anything
    "drop_after_accept",  # perform the request (e.g. accept the order), then close the socket
    "slow_ack",  # perform the request, then hold the answer for ``delay_s``
    "clock_skew",  # shift the server clock by ``skewMs``
    "stale_book",  # freeze the order book (contents and timestamp)
    "crossed_book",  # publish the depth with its two sides swapped (best bid above best ask)
    "price_glitch",  # publish the depth with every level at 1/1000 of its price (a bad tick)
    "wrong_fill",  # report the account's trades (myTrades) with their side flipped (a mapping bug)
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class ApiKey(_Model):
    """One account: its key, HMAC secret and starting balances (asset → amount).

    In a manifest the key and secret come from a Secret (``secretRef``: its ``apiKey`` and
    ``secret`` entries, read by the venue-sim agent from the directory the operator mounts or
    ``quantops up`` writes, ``runtime/roles.py``); inline ``key``/``secret`` are for tests that
    build a simulator in-process. The server takes resolved accounts only.
    """

    key: str | None = None
    secret: str | None = Field(default=None, repr=False)
    secret_ref: str | None = None
    balances: dict[str, Decimal] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.secret_ref is None and not (self.key and self.secret):
            raise ValueError("an account needs secretRef, or key and secret")
        if self.secret_ref is not None and self.secret is not None:
            raise ValueError("an account takes secretRef or an inline secret, not both")
        return self


class SymbolConfig(_Model):
    """One tradable market and where its book comes from.

    ``book_file`` (an ``orderbook/*_L2top20_*.csv.gz`` path relative to the data dir) wins; else a
    synthetic book is built around ``candle_file`` closes with ``synthetic_spread_bps``.
    """

    symbol: str  # ccxt-style "BTC/USDT"
    base: str
    quote: str
    book_file: str | None = None
    candle_file: str | None = None
    trades_file: str | None = None
    tick_size: Decimal = Decimal("0.01")
    step_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    min_notional: Decimal = Decimal("5")
    synthetic_spread_bps: Decimal = Decimal("5")
    synthetic_level_qty: Decimal = Decimal("1")

    @property
    def venue_id(self) -> str:
        """Binance's market id ("BTCUSDT")."""
        return f"{self.base}{self.quote}"


class LatencyModel(_Model):
    """Per-request processing delay: ``base_ms`` plus seeded uniform jitter up to ``jitter_ms``."""

    base_ms: float = 0.0
    jitter_ms: float = 0.0


class SlippageModel(_Model):
    """Extra adverse price move on taker fills, in basis points, plus seeded jitter."""

    bps: Decimal = Decimal("0")
    jitter_bps: Decimal = Decimal("0")


class FaultRule(_Model):
    """One injected fault: *what* (kind), *where* (path substring, method), *when* (rate/schedule).

    A rule fires on matching requests once ``after_requests`` of them have been seen, with
    probability ``rate`` (seeded), at most ``count`` times (None = forever).
    """

    kind: FaultKind
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    path: str = ""  # substring of the request path, "" = every path
    method: str | None = None  # "POST", "GET", ... None = any
    after_requests: int = 0
    count: int | None = None
    retry_after_s: int = 1
    status: int = 503
    delay_s: float = 2.0
    skew_ms: int = 0


class VenueConfig(_Model):
    """A whole simulated venue."""

    name: str = "sim"
    seed: int = 7
    symbols: list[SymbolConfig]
    api_keys: list[ApiKey] = Field(default_factory=list)
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    latency: LatencyModel = LatencyModel()
    slippage: SlippageModel = SlippageModel()
    speed: float = Field(default=0.0, ge=0.0)  # replay seconds per wall second; 0 = step API only
    data_offset_ms: int = 0  # start the replay this far into the data
    recv_window_ms: int = 5000
    faults: list[FaultRule] = Field(default_factory=list)
    # Bearer token the /_sim/* control API requires; None leaves it open (in-process tests only).
    # `quantops up` gives each venue-sim one through $QUANTOPS_SIM_CONTROL_TOKEN, never in a file.
    control_token: str | None = Field(default=None, repr=False, exclude=True)


def load_config(path: str | Path) -> VenueConfig:
    """Read a YAML or JSON venue config (JSON is valid YAML, so one parser serves both)."""
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    return VenueConfig.model_validate(data)
