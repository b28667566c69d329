"""The execution layer's one error tree; foreign (ccxt) errors are translated into it at the adapter.

Why it exists: retry, breaker and failover logic must decide on *our* classes (is it retryable?
how long to wait?), never on ccxt's, so strategies and risk code never catch ``ccxt.BaseError``
(STYLE 2.3, 2.9). Translation happens only in ``adapters/ccxt/errors.py``, chained with
``from e``. Expected outcomes (a pre-trade denial) are values, not these exceptions.

::

    TradingError
     ├── ExchangeUnavailable        retryable   venue down, 5xx, dropped connection, DNS
     │    ├── RequestTimedOut       retryable   no answer in time (the order MAY exist)
     │    ├── VenueMaintenance      retryable   announced maintenance
     │    └── RateLimited           retryable   429/418; carries retry_after (seconds)
     ├── ClockSkew                  retryable   timestamp outside recvWindow; adapter resyncs first
     ├── OrderRejected              final       the venue said no to this order
     │    ├── InvalidOrder          final       precision/filters/bad params (often caught locally)
     │    ├── InsufficientFunds     final       balance too small
     │    └── DuplicateOrder        final       client order id already used → reconcile, not retry
     ├── OrderNotFound              final       unknown order id / client id
     ├── BadSymbol                  final       market does not exist on this venue
     ├── ConfigurationError         final       keys, signatures, clock skew: needs a human
     ├── CircuitOpen                final       the connector refuses calls while its breaker is open
     └── NotReady                   final       the connector has not finished warm-up
"""

from __future__ import annotations

__all__ = [
    "BadSymbol",
    "CircuitOpen",
    "ClockSkew",
    "ConfigurationError",
    "DuplicateOrder",
    "ExchangeUnavailable",
    "InsufficientFunds",
    "InvalidOrder",
    "NotReady",
    "OrderNotFound",
    "OrderRejected",
    "RateLimited",
    "RequestTimedOut",
    "TradingError",
    "VenueMaintenance",
]


class TradingError(Exception):
    """Root of the execution error tree. ``retryable`` says whether the same call may succeed."""

    retryable: bool = False

    def __init__(self, message: str, *, venue: str = "") -> None:
        super().__init__(message)
        self.venue = venue


class ExchangeUnavailable(TradingError):
    retryable = True


class RequestTimedOut(ExchangeUnavailable):
    """The request may have been executed: an order submit must be reconciled, never blindly resent."""


class VenueMaintenance(ExchangeUnavailable):
    pass


class RateLimited(ExchangeUnavailable):
    def __init__(self, message: str, *, venue: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, venue=venue)
        self.retry_after = retry_after


class ClockSkew(TradingError):
    """Local and venue clocks disagree beyond recvWindow; the adapter resynchronises before raising."""

    retryable = True


class OrderRejected(TradingError):
    pass


class InvalidOrder(OrderRejected):
    pass


class InsufficientFunds(OrderRejected):
    pass


class DuplicateOrder(OrderRejected):
    pass


class OrderNotFound(TradingError):
    pass


class BadSymbol(TradingError):
    pass


class ConfigurationError(TradingError):
    pass


class CircuitOpen(TradingError):
    pass


class NotReady(TradingError):
    pass
