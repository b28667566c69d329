"""Typed identifiers for everything the trading library names.

Why it exists: a bare ``str`` lets a strategy id be passed where an instrument id is expected and
lets ``"BTCUSDT"`` and ``"BTC/USDT@binance"`` silently mean the same market. Each identifier here
is a distinct ``str`` subclass validated once at construction (and by pydantic at every boundary),
so mypy catches mix-ups and malformed ids fail loudly with the offending value.

What it must not do: look anything up. Identifiers are pure values; resolving an InstrumentId to
venue precision is the job of :class:`quantops_trading.model.instruments.Instrument`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, ClassVar, Self

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

__all__ = [
    "ClientOrderId",
    "EventId",
    "InstrumentId",
    "StrategyId",
    "TraceId",
    "VenueId",
    "VenueOrderId",
]


class _Identifier(str):
    """Base for validated string identifiers (immutable, hashable, JSON as a plain string)."""

    __slots__ = ()
    _pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")
    _example: ClassVar[str] = "abc-1"

    def __new__(cls, value: str) -> Self:
        if not isinstance(value, str):
            raise TypeError(f"{cls.__name__} must be a str, got {type(value).__name__}: {value!r}")
        if not cls._pattern.fullmatch(value):
            raise ValueError(f"invalid {cls.__name__} {value!r} (expected something like {cls._example!r})")
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


class VenueId(_Identifier):
    """A venue name in lower case, e.g. ``binance``, ``binance-usdm``, ``kraken``."""

    __slots__ = ()
    _pattern = re.compile(r"^[a-z][a-z0-9\-]{0,31}$")
    _example = "binance"


class InstrumentId(_Identifier):
    """``BASE/QUOTE[:SETTLE]@venue``, e.g. ``BTC/USDT@binance`` or ``XRP/USDT:USDT@binance-usdm``."""

    __slots__ = ()
    _pattern = re.compile(
        r"^(?P<base>[A-Z0-9]{1,16})/(?P<quote>[A-Z0-9]{1,16})(?::(?P<settle>[A-Z0-9]{1,16}))?"
        r"@(?P<venue>[a-z][a-z0-9\-]{0,31})$"
    )
    _example = "BTC/USDT@binance"

    @classmethod
    def of(cls, base: str, quote: str, venue: str, settle: str | None = None) -> InstrumentId:
        """Build from parts, upper-casing assets and lower-casing the venue."""
        symbol = f"{base.upper()}/{quote.upper()}" + (f":{settle.upper()}" if settle else "")
        return cls(f"{symbol}@{venue.lower()}")

    def _part(self, name: str) -> str | None:
        match = self._pattern.fullmatch(self)
        assert match is not None  # validated in __new__
        return match.group(name)

    @property
    def base(self) -> str:
        return self._part("base") or ""

    @property
    def quote(self) -> str:
        return self._part("quote") or ""

    @property
    def settle(self) -> str | None:
        return self._part("settle")

    @property
    def symbol(self) -> str:
        """The ccxt-style symbol without the venue: ``BTC/USDT`` or ``XRP/USDT:USDT``."""
        return self.split("@", 1)[0]

    @property
    def venue(self) -> VenueId:
        return VenueId(self.split("@", 1)[1])

    @property
    def is_derivative(self) -> bool:
        return self.settle is not None


class StrategyId(_Identifier):
    """A Strategy resource name (DNS-1123 label style), e.g. ``momentum-btc``."""

    __slots__ = ()
    _pattern = re.compile(r"^[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?$")
    _example = "momentum-btc"


class ClientOrderId(_Identifier):
    """Our idempotency key for an order; venues cap it at 36 chars (Binance), so do we."""

    __slots__ = ()
    _pattern = re.compile(r"^[A-Za-z0-9._:\-]{1,36}$")
    _example = "qo-momentum-000001"


class VenueOrderId(_Identifier):
    """The id the venue assigned to an order (opaque; digits on Binance, text on Kraken)."""

    __slots__ = ()
    _pattern = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
    _example = "8389765589"


class TraceId(_Identifier):
    """A 32-hex-digit trace id (W3C trace-context compatible) joining logs, events and metrics."""

    __slots__ = ()
    _pattern = re.compile(r"^[0-9a-f]{32}$")
    _example = "4bf92f3577b34da6a3ce929d0e0e4736"

    @classmethod
    def new(cls) -> TraceId:
        return cls(uuid.uuid4().hex)


class EventId(_Identifier):
    """A unique event id (uuid4 hex)."""

    __slots__ = ()
    _pattern = re.compile(r"^[0-9a-f]{32}$")
    _example = "0f8fad5bd9cb469fa16570867728950e"

    @classmethod
    def new(cls) -> EventId:
        return cls(uuid.uuid4().hex)
