"""An injectable clock: the test seam for everything time-dependent in the data layer.

Why it exists: freshness SLAs and cache TTLs depend on "now"; tests must move time explicitly
instead of sleeping or patching ``time.time``. Components take a :class:`Clock` and default to
:class:`SystemClock`; tests pass a :class:`ManualClock`.

What it must not do: sleep or schedule. It only answers "what time is it".
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock time, ms since the Unix epoch (UTC)."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError(f"a clock does not go backwards (advance by {ms} ms)")
        self._now += ms

    def set(self, now_ms: int) -> None:
        self._now = now_ms
