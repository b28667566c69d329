"""The pipeline's work queue: its length is what the agent reports in every heartbeat.

Why it exists: the operator sizes the pipeline Deployment from the queue length in the agents'
heartbeat Leases (``quantops.dev/queue-length``, Agent ``autoscaling.targetQueuePerWorker``). Items
are keyed so a strategy already waiting is not queued twice; order is FIFO.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["WorkItem", "WorkQueue"]

Path = Literal["fast", "full", "candidate", "retune"]


@dataclass(frozen=True)
class WorkItem:
    strategy: str
    path: Path
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        return f"{self.strategy}|{self.path}|{sorted(self.params.items())}"


class WorkQueue:
    """Thread-safe FIFO with de-duplication by key; ``len()`` is read from the heartbeat thread."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, WorkItem] = OrderedDict()
        self._lock = threading.Lock()
        self.done = 0

    def put(self, item: WorkItem) -> bool:
        with self._lock:
            if item.key in self._items:
                return False
            self._items[item.key] = item
            return True

    def get(self) -> WorkItem | None:
        with self._lock:
            if not self._items:
                return None
            _, item = self._items.popitem(last=False)
            self.done += 1
            return item

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
