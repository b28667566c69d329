"""Retries with exponential backoff, full jitter and a cap (roadmap 74) — retryable errors only.

Why it exists: transient venue failures (5xx, timeouts, 429) should be absorbed without hammering
the venue, and final ones (rejections, unknown orders, bad keys) must surface at once. Delay for
attempt *n* is ``uniform(0, min(cap, base * 2**n))`` (AWS "full jitter"); a ``RateLimited`` error's
``retry_after`` is a floor. Sleep and randomness are injected so tests run instantly and
deterministically. It must not know about orders: idempotency is the caller's job.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from quantops_trading.execution.errors import RateLimited, TradingError

__all__ = ["RetryPolicy", "retry_call"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` total tries (1 = no retry); delays in seconds."""

    max_attempts: int = 5
    base_delay: float = 0.05
    max_delay: float = 2.0
    rng: random.Random = field(default_factory=lambda: random.Random(0), compare=False)

    def delay(self, attempt: int, error: TradingError | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (0-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        wait = self.rng.uniform(0.0, ceiling)
        if isinstance(error, RateLimited) and error.retry_after is not None:
            wait = max(wait, min(error.retry_after, self.max_delay))
        return wait


async def retry_call(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_retry: Callable[[int, TradingError, float], Awaitable[None]] | None = None,
) -> T:
    """Await ``call()`` until it succeeds, raises a final error, or attempts run out."""
    attempt = 0
    while True:
        try:
            return await call()
        except TradingError as e:
            if not e.retryable or attempt + 1 >= policy.max_attempts:
                raise
            wait = policy.delay(attempt, e)
            if on_retry is not None:
                await on_retry(attempt, e, wait)
            await sleep(wait)
            attempt += 1
