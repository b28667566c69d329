"""Binance's error responses, reproduced byte for byte so ccxt raises its real exception classes.

Why it exists: the point of the simulator is that the *unmodified* ccxt ``binance`` class sees the
same ``{"code": ..., "msg": ...}`` bodies and HTTP statuses as on the real venue, so the library's
error translation is exercised for real. ccxt matches some messages exactly (e.g. the insufficient
balance text → ``InsufficientFunds``) and others by code (-2013 → ``OrderNotFound``), so both the
code and the text here must stay verbatim. This module holds data only, no HTTP.

How ccxt (4.5) maps what we send::

    -1003 / HTTP 429 ...... DDoSProtection (RateLimitExceeded for -1003 without 429)
    HTTP 418 .............. DDoSProtection
    -1013 Filter failure .. InvalidOrder (body contains LOT_SIZE / PRICE_FILTER) or BadRequest
    -1021 timestamp ....... InvalidNonce
    -1022 signature ....... AuthenticationError
    -1102 / -1100 ......... BadRequest
    -1121 symbol .......... BadSymbol
    -2010 balance text .... InsufficientFunds;  -2010 "Duplicate order sent." → InvalidOrder
    -2011 / -2013 ......... OrderNotFound
    -2014 / -2015 ......... AuthenticationError
    503 maintenance text .. OnMaintenance (an ExchangeNotAvailable)
    5xx non-JSON body ..... ExchangeNotAvailable (504 → RequestTimeout)
"""

from __future__ import annotations

__all__ = ["Reject"]


class Reject(Exception):
    """A venue refusal: rendered as ``{"code": code, "msg": msg}`` with HTTP ``status``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(code, msg, status)
        self.code = code
        self.msg = msg
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.msg}"

    @classmethod
    def insufficient_balance(cls) -> Reject:
        return cls(-2010, "Account has insufficient balance for requested action.")

    @classmethod
    def duplicate_order(cls) -> Reject:
        return cls(-2010, "Duplicate order sent.")

    @classmethod
    def filter_failure(cls, name: str) -> Reject:
        return cls(-1013, f"Filter failure: {name}")

    @classmethod
    def unknown_order_query(cls) -> Reject:
        return cls(-2013, "Order does not exist.")

    @classmethod
    def unknown_order_cancel(cls) -> Reject:
        return cls(-2011, "Unknown order sent.")

    @classmethod
    def bad_symbol(cls) -> Reject:
        return cls(-1121, "Invalid symbol.")

    @classmethod
    def missing_param(cls, name: str) -> Reject:
        return cls(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")

    @classmethod
    def bad_param(cls, name: str) -> Reject:
        return cls(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9.]+$'.")

    @classmethod
    def bad_signature(cls) -> Reject:
        return cls(-1022, "Signature for this request is not valid.")

    @classmethod
    def bad_api_key(cls) -> Reject:
        return cls(-2015, "Invalid API-key, IP, or permissions for action.", 401)

    @classmethod
    def outside_recv_window(cls) -> Reject:
        return cls(-1021, "Timestamp for this request is outside of the recvWindow.")

    @classmethod
    def ahead_of_server(cls) -> Reject:
        return cls(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")

    @classmethod
    def too_many_requests(cls) -> Reject:
        return cls(
            -1003,
            "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
            "Please use WebSocket Streams for live updates to avoid polling the API.",
            429,
        )

    @classmethod
    def banned(cls) -> Reject:
        return cls(-1003, "Way too much request weight used; IP banned until further notice.", 418)

    @classmethod
    def maintenance(cls) -> Reject:
        return cls(-1, "System is under maintenance.", 503)
