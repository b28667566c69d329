"""21: the cycle runs every N with jitter, never overlaps itself, and a missed slot is logged, not stacked."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantops_trading.pipeline.queue import WorkItem, WorkQueue
from quantops_trading.pipeline.scheduler import CycleScheduler, next_slot


@given(
    interval=st.floats(1, 1000),
    done=st.integers(0, 50),
    overrun=st.floats(0, 20),
)
def test_21_next_slot_is_in_the_future_and_counts_every_skipped_slot(
    interval: float, done: int, overrun: float
) -> None:
    now = (done + overrun) * interval
    nxt, missed = next_slot(0.0, interval, now, done)
    assert nxt > done and missed == nxt - done - 1 >= 0
    assert nxt * interval > now - 1e-6 * interval  # the next slot's base time has not passed
    assert (nxt - 1) * interval <= now + 1e-6 * interval or missed == 0  # no slot skipped needlessly


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s
        await asyncio.sleep(0)


async def test_21_overrun_is_logged_as_missed_and_cycles_never_overlap() -> None:
    ft, log, starts = FakeTime(), [], []
    running = {"n": 0, "max": 0}
    stopping = asyncio.Event()
    durations = iter([1.0, 25.0, 1.0, 1.0])  # the 2nd cycle overruns two and a half intervals

    async def cycle() -> None:
        running["n"] += 1
        running["max"] = max(running["max"], running["n"])
        starts.append(ft.t)
        ft.t += next(durations)
        await asyncio.sleep(0)
        running["n"] -= 1
        if len(starts) == 4:
            stopping.set()

    sched = CycleScheduler(10.0, 2.0, random.Random(3), clock=ft.clock, sleep=ft.sleep,
                           log=lambda kind, **f: log.append((kind, f)))  # fmt: skip
    await sched.run(cycle, stopping)
    assert running["max"] == 1 and sched.cycles == 4
    missed = [f for k, f in log if k == "cycle_missed"]
    assert missed == [{"reason": "slot 1 overran", "missed": 2, "slots": [2, 3]}]
    assert sched.missed == 2
    # slots 0, 1, 4, 5: each start within [k·interval, k·interval + jitter]
    for s, k in zip(starts, [0, 1, 4, 5], strict=True):
        assert k * 10.0 <= s <= k * 10.0 + 2.0
    assert len({round(s - k * 10.0, 9) for s, k in zip(starts, [0, 1, 4, 5], strict=True)}) > 1  # jittered


async def test_21_trigger_while_a_cycle_runs_is_refused_and_logged() -> None:
    log: list[tuple[str, dict[str, Any]]] = []
    sched = CycleScheduler(60.0, 0.0, log=lambda kind, **f: log.append((kind, f)))
    gate = asyncio.Event()

    async def slow() -> None:
        await gate.wait()

    first = asyncio.create_task(sched.trigger(slow))
    await asyncio.sleep(0)
    assert sched.running
    assert await sched.trigger(slow) is False
    gate.set()
    assert await first is True
    assert sched.cycles == 1 and sched.refused == 1
    assert log == [("cycle_missed", {"reason": "manual trigger: a cycle is still running", "missed": 1})]


def test_21_bad_interval_or_jitter_is_refused_with_the_field() -> None:
    with pytest.raises(ValueError, match="intervalMinutes"):
        CycleScheduler(0.0)
    with pytest.raises(ValueError, match="jitterSeconds"):
        CycleScheduler(10.0, 10.0)


def test_queue_deduplicates_waiting_items_and_reports_its_length() -> None:
    q = WorkQueue()
    assert q.put(WorkItem("a", "full")) and q.put(WorkItem("b", "full"))
    assert not q.put(WorkItem("a", "full"))  # already waiting
    assert q.put(WorkItem("a", "candidate", {"n": 0}))
    assert len(q) == 3
    got = q.get()
    assert got is not None and got.strategy == "a" and len(q) == 2
    assert q.put(WorkItem("a", "full"))  # no longer waiting → may be queued again
