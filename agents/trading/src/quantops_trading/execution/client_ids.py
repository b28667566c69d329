"""Idempotent client order ids (roadmap 71): one id per (strategy, intent, attempt), forever.

Why it exists: a submit whose answer is lost (timeout, dropped connection, crash between submit and
ack) is retried with the *same* id, so the venue's duplicate-id rejection proves the order already
exists and the connector fetches it by client id instead of placing a second one. ``attempt`` only
changes when the previous order is *known* dead (rejected/expired/cancelled) and the strategy
deliberately tries again. Binance allows ``^[a-zA-Z0-9-_]{1,36}$``; ids here are 32 chars.
Pure functions; no I/O.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["CLIENT_ID_PATTERN", "client_order_id", "is_ours"]

CLIENT_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")
_PREFIX = "qo"


def client_order_id(strategy_id: str, intent_id: str, attempt: int = 0) -> str:
    """Deterministic, venue-safe id: ``qo`` + 26 hex of SHA-256 + ``-`` + attempt (base 36)."""
    if attempt < 0 or attempt >= 36**3:
        raise ValueError(f"attempt out of range: {attempt}")
    digest = hashlib.sha256(f"{strategy_id}\x1f{intent_id}".encode()).hexdigest()[:26]
    suffix = _b36(attempt).rjust(3, "0")
    out = f"{_PREFIX}{digest}-{suffix}"
    assert CLIENT_ID_PATTERN.match(out)
    return out


def is_ours(client_id: str) -> bool:
    """Whether an id on the venue was made by :func:`client_order_id` (reconciliation scope)."""
    return bool(re.fullmatch(rf"{_PREFIX}[0-9a-f]{{26}}-[0-9a-z]{{3}}", client_id))


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out
