"""Priority queue of execution actions (roadmap 80).

Why it exists: when the connector is the bottleneck (rate limits, a slow venue), the order of work
matters: cancels first (they remove risk and free funds), then risk-reducing orders, then new
entries; within a class, higher-confidence actions first, then first come first served. An asyncio
consumer awaits :meth:`ActionQueue.get`. No I/O, no venue knowledge.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

__all__ = ["ActionKind", "ActionQueue"]

T = TypeVar("T")


class ActionKind(IntEnum):
    CANCEL = 0
    REDUCE = 1
    ENTRY = 2


@dataclass(order=True)
class _Item(Generic[T]):
    key: tuple[int, float, int]
    payload: T = field(compare=False)


class ActionQueue(Generic[T]):
    """Cancels < risk-reducing < entries; then confidence (high first); then arrival."""

    def __init__(self) -> None:
        self._heap: list[_Item[T]] = []
        self._seq = itertools.count()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def put(self, payload: T, kind: ActionKind, confidence: float = 0.5) -> None:
        heapq.heappush(self._heap, _Item((int(kind), -confidence, next(self._seq)), payload))
        self._ready.set()

    def pop(self) -> T:
        """The most urgent action (IndexError when empty)."""
        item = heapq.heappop(self._heap)
        if not self._heap:
            self._ready.clear()
        return item.payload

    async def get(self) -> T:
        while not self._heap:
            await self._ready.wait()
        return self.pop()
