"""ccxt → library error translation: the ONE place a ccxt exception is caught.

Why it exists: retry, breaker and failover code decides on the library's tree
(``quantops_trading.execution.errors``), so every ccxt call in the adapter runs inside
:func:`translating`, which re-raises the matching library error chained ``from`` the ccxt one.
Order matters: ccxt's classes nest (``OrderNotFound`` is an ``InvalidOrder``, ``OnMaintenance`` an
``ExchangeNotAvailable``), so the most specific rows come first. Binance reports a duplicate client
order id as a plain ``InvalidOrder`` ("Duplicate order sent."), recognised here by its text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import ccxt

from quantops_trading.adapters.ccxt.credentials import redact
from quantops_trading.execution import errors as qe

__all__ = ["TRANSLATION", "retry_after_from", "translate", "translating"]

# (ccxt class, library class) — first match wins.
TRANSLATION: tuple[tuple[type[Exception], type[qe.TradingError]], ...] = (
    (ccxt.OrderNotFound, qe.OrderNotFound),
    (ccxt.DuplicateOrderId, qe.DuplicateOrder),
    (ccxt.InsufficientFunds, qe.InsufficientFunds),
    (ccxt.InvalidOrder, qe.InvalidOrder),
    (ccxt.BadSymbol, qe.BadSymbol),
    (ccxt.AuthenticationError, qe.ConfigurationError),
    (ccxt.ArgumentsRequired, qe.InvalidOrder),
    (ccxt.NotSupported, qe.ConfigurationError),
    (ccxt.BadRequest, qe.InvalidOrder),
    (ccxt.InvalidNonce, qe.ClockSkew),
    (ccxt.RateLimitExceeded, qe.RateLimited),
    (ccxt.DDoSProtection, qe.RateLimited),
    (ccxt.OnMaintenance, qe.VenueMaintenance),
    (ccxt.RequestTimeout, qe.RequestTimedOut),
    (ccxt.ExchangeNotAvailable, qe.ExchangeUnavailable),
    (ccxt.NetworkError, qe.ExchangeUnavailable),
    (ccxt.OperationFailed, qe.ExchangeUnavailable),
    (ccxt.OperationRejected, qe.OrderRejected),
    (ccxt.ExchangeError, qe.OrderRejected),
    (ccxt.BaseError, qe.TradingError),
)

_DUPLICATE_TEXT = "Duplicate order sent"


def retry_after_from(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` response header, if the last response carried one."""
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == "retry-after":
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def translate(exc: Exception, venue: str, headers: Any = None) -> qe.TradingError:
    """The library error for a ccxt (or transport) exception; never raises. Its text is redacted
    (ccxt puts the signed URL in its messages), and so is the chained ccxt exception's, which a
    logged traceback would print."""
    message = redact(f"{venue}: {type(exc).__name__}: {exc}")
    if isinstance(exc, ccxt.BaseError):
        exc.args = tuple(redact(str(a)) for a in exc.args)
    if isinstance(exc, ccxt.InvalidOrder) and _DUPLICATE_TEXT in str(exc):
        return qe.DuplicateOrder(message, venue=venue)
    for ccxt_cls, ours in TRANSLATION:
        if isinstance(exc, ccxt_cls):
            if ours is qe.RateLimited:
                return qe.RateLimited(message, venue=venue, retry_after=retry_after_from(headers))
            return ours(message, venue=venue)
    if isinstance(exc, TimeoutError):
        return qe.RequestTimedOut(message, venue=venue)
    if isinstance(exc, OSError):
        return qe.ExchangeUnavailable(message, venue=venue)
    return qe.TradingError(message, venue=venue)


@asynccontextmanager
async def translating(venue: str, headers: Callable[[], Any] = lambda: None) -> AsyncIterator[None]:
    """Run a ccxt call; re-raise any ccxt/transport failure as the library's error ``from`` it."""
    try:
        yield
    except qe.TradingError:
        raise
    except (ccxt.BaseError, TimeoutError, OSError) as e:
        raise translate(e, venue, headers()) from e
