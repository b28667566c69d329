"""The pipeline's clock (roadmap 21): ``run_full_pipeline`` every N minutes with jitter.

Why it exists: a fleet of pipeline replicas started together must not hit the data and the API in
lockstep (jitter), and a cycle that overruns its interval must not pile up behind itself. Slots
are ``anchor + k·interval + jitter_k`` (``jitter_k`` uniform in [0, jitter], drawn once per slot).
After a cycle ends, every slot whose start already passed is *missed*: logged (``cycle_missed``
with the count) and dropped, never stacked; the next cycle runs at the first future slot. A
manual :meth:`CycleScheduler.trigger` while a cycle runs is refused and logged the same way, so
two cycles never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CycleScheduler", "next_slot"]


def next_slot(anchor: float, interval: float, now: float, done: int) -> tuple[int, int]:
    """(index of the next slot to run, slots missed) after slot ``done`` ended at ``now``.

    Jitter only delays a slot, so slot ``k`` has certainly started by ``anchor + (k+1)·interval``
    at the latest; here a slot counts as missed when its *unjittered* start is ≤ ``now``.
    """
    if interval <= 0:
        raise ValueError(f"interval: must be > 0, got {interval}")
    due = math.floor((now - anchor) / interval)  # the last slot whose base time has passed
    nxt = max(done + 1, due + 1)
    return nxt, nxt - done - 1


@dataclass
class CycleScheduler:
    interval: float
    jitter: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[Any]] | None = None
    log: Callable[..., None] = lambda kind, **f: None
    cycles: int = 0
    missed: int = 0
    refused: int = 0
    running: bool = False
    _jitters: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError(f"intervalMinutes: must be > 0, got {self.interval / 60}")
        if self.jitter < 0 or self.jitter >= self.interval:
            raise ValueError(f"jitterSeconds: must be in [0, interval), got {self.jitter}")

    def slot_time(self, anchor: float, k: int) -> float:
        if k not in self._jitters:
            self._jitters[k] = self.rng.uniform(0.0, self.jitter) if self.jitter else 0.0
        return anchor + k * self.interval + self._jitters[k]

    async def _run_once(self, cycle: Callable[[], Awaitable[Any]], why: str) -> bool:
        if self.running:
            self.refused += 1
            self.log("cycle_missed", reason=f"{why}: a cycle is still running", missed=1)
            return False
        self.running = True
        try:
            await cycle()
            self.cycles += 1
        finally:
            self.running = False
        return True

    async def trigger(self, cycle: Callable[[], Awaitable[Any]]) -> bool:
        """Run a cycle now unless one is running (then it is logged as missed and refused)."""
        return await self._run_once(cycle, "manual trigger")

    async def run(self, cycle: Callable[[], Awaitable[Any]], stopping: asyncio.Event) -> None:
        """Run slot 0 at ``anchor + jitter_0`` and every later slot on time until ``stopping``."""
        anchor, k = self.clock(), 0
        while not stopping.is_set():
            wait = self.slot_time(anchor, k) - self.clock()
            if wait > 0:
                if self.sleep is not None:
                    await self.sleep(wait)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), wait)
                if stopping.is_set():
                    return
            self.log("cycle_start", slot=k)
            try:
                await self._run_once(cycle, f"slot {k}")
            except Exception as e:  # a failed cycle is logged; the schedule goes on
                self.log("cycle_failed", slot=k, error=f"{type(e).__name__}: {e}")
            nxt, missed = next_slot(anchor, self.interval, self.clock(), k)
            if missed:
                self.missed += missed
                self.log(
                    "cycle_missed", reason=f"slot {k} overran", missed=missed, slots=list(range(k + 1, nxt))
                )
            k = nxt
