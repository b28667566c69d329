"""A local cache for markets and recent bars with explicit invalidation rules (roadmap 86).

Why it exists: agents must not hit a venue for market metadata or re-read bars on every tick,
but a stale cache is a wrong tick size or a missed bar. Entries are invalidated by exactly three
rules, each observable in tests through an injected clock:

1. **TTL** — an entry older than its namespace TTL is a miss (markets: hours, bars: seconds);
2. **version bump** — when the upstream announces a new version of a namespace (e.g. a venue's
   exchange-info hash or ``serverTime``-keyed revision changed), every entry stored under an older
   version is a miss: :meth:`LocalCache.bump_version`;
3. **reconnect** — after a feed reconnect, namespaces flagged ``drop_on_reconnect`` (recent bars:
   a gap may have happened) are cleared: :meth:`LocalCache.on_reconnect`. Markets survive it.

What it must not do: fetch. Callers use :meth:`LocalCache.get_or_load` with their own loader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from quantops_trading.data.clock import Clock, SystemClock

__all__ = ["CachePolicy", "CacheStats", "LocalCache"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CachePolicy:
    ttl_ms: int
    drop_on_reconnect: bool = False
    max_entries: int = 10_000


DEFAULT_POLICIES = {
    "markets": CachePolicy(ttl_ms=6 * 3_600_000, drop_on_reconnect=False),
    "bars": CachePolicy(ttl_ms=60_000, drop_on_reconnect=True),
}


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    expired: int = 0
    invalidated: int = 0


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    stored_ms: int
    version: int


class LocalCache:
    """Namespaced in-memory cache with TTL, version and reconnect invalidation."""

    def __init__(self, policies: dict[str, CachePolicy] | None = None, *, clock: Clock | None = None) -> None:
        self._policies = dict(DEFAULT_POLICIES if policies is None else policies)
        self._clock = clock or SystemClock()
        self._data: dict[str, dict[str, _Entry]] = {ns: {} for ns in self._policies}
        self._versions: dict[str, int] = dict.fromkeys(self._policies, 0)
        self.stats = CacheStats()

    def _ns(self, namespace: str) -> dict[str, _Entry]:
        if namespace not in self._data:
            raise KeyError(f"unknown cache namespace {namespace!r} (known: {sorted(self._data)})")
        return self._data[namespace]

    def put(self, namespace: str, key: str, value: Any) -> None:
        entries = self._ns(namespace)
        if len(entries) >= self._policies[namespace].max_entries and key not in entries:
            oldest = min(entries, key=lambda k: entries[k].stored_ms)
            del entries[oldest]
        entries[key] = _Entry(value, self._clock.now_ms(), self._versions[namespace])

    def get(self, namespace: str, key: str) -> Any | None:
        """The cached value, or None on a miss (absent, expired or from an older version)."""
        entries = self._ns(namespace)
        entry = entries.get(key)
        if entry is None:
            self.stats.misses += 1
            return None
        if entry.version != self._versions[namespace]:
            del entries[key]
            self.stats.invalidated += 1
            self.stats.misses += 1
            return None
        if self._clock.now_ms() - entry.stored_ms > self._policies[namespace].ttl_ms:
            del entries[key]
            self.stats.expired += 1
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return entry.value

    def get_or_load(self, namespace: str, key: str, loader: Callable[[], T]) -> T:
        found = self.get(namespace, key)
        if found is not None:
            return found  # type: ignore[no-any-return]  # stored by this same call path
        value = loader()
        self.put(namespace, key, value)
        return value

    def bump_version(self, namespace: str) -> int:
        """Upstream changed: every entry of ``namespace`` stored before now is invalid."""
        self._ns(namespace)
        self._versions[namespace] += 1
        return self._versions[namespace]

    def on_reconnect(self) -> list[str]:
        """A feed reconnected: clear namespaces whose policy says so; returns their names."""
        cleared = []
        for ns, policy in self._policies.items():
            if policy.drop_on_reconnect:
                self.stats.invalidated += len(self._data[ns])
                self._data[ns].clear()
                cleared.append(ns)
        return cleared

    def __len__(self) -> int:
        return sum(len(v) for v in self._data.values())
