"""What the live execution loop feeds the risk engine: venue health (61) and the regime (62).

Why it exists: the health kill switches and the adverse-cluster detector are only as good as their
inputs. :class:`MonitoredClient` wraps the trader's venue client so that *every* call it makes
(book polls, balance, order submit/cancel, trade sync) is observed: transport failures go into a
:class:`CircuitBreaker`, name-resolution failures are counted as DNS failures, round-trip times go
into a :class:`LatencyTracker` (p99), and each order book is checked for freshness (telemetry
starvation = the book has not changed for too long, e.g. a frozen feed). :meth:`VenueHealth.snapshot`
turns that into the :class:`HealthSnapshot` that :func:`health_actions` maps to PAUSE/STOP switches.

:class:`RegimeTracker` keeps a bounded mid-price history per pair and labels the current regime with
``signals.regime.detect_regimes`` (the same code the backtests use), so losses and orders carry it.

What it must not do: retry, hide an error, or decide a gate (the gateway applies the actions).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from prometheus_client import CollectorRegistry

from quantops_trading.execution.breaker import BreakerConfig, BreakerState, CircuitBreaker
from quantops_trading.execution.errors import ExchangeUnavailable, OrderRejected, TradingError
from quantops_trading.execution.latency import LatencyTracker
from quantops_trading.execution.retry import RetryPolicy, retry_call
from quantops_trading.execution.types import Fill, MarketRules, OrderBook, OrderIntent, VenueOrder
from quantops_trading.risk.health import HealthSnapshot, HealthThresholds
from quantops_trading.signals.regime import RegimeConfig
from quantops_trading.signals.sizing import realised_vol

__all__ = ["MonitoredClient", "RegimeTracker", "VenueClient", "VenueHealth", "is_dns_failure"]

T = TypeVar("T")

_DNS_TEXT = (
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "no address associated with hostname",
    "could not resolve host",
)


def is_dns_failure(exc: BaseException) -> bool:
    """A name-resolution failure anywhere in the exception chain (gaierror or its text)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, socket.gaierror) or type(e).__name__ == "ClientConnectorDNSError":
            return True
        if any(t in str(e).lower() for t in _DNS_TEXT):
            return True
        e = e.__cause__ or e.__context__
    return False


@dataclass
class VenueHealth:
    """Breaker, latency, DNS and telemetry state of one venue, from observed calls."""

    venue: str
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    breaker_config: BreakerConfig = field(default_factory=BreakerConfig)
    latency_window: int = 200
    latency_min_samples: int = 20
    clock: Callable[[], float] = time.monotonic
    registry: CollectorRegistry | None = None  # the agent's /metrics (None: a private one)
    dns_failures: int = 0
    calls: int = 0
    failures: int = 0
    last_error: str = ""

    def __post_init__(self) -> None:
        self.breaker = CircuitBreaker(self.breaker_config, clock=self.clock)
        self.latency = LatencyTracker(
            self.venue,
            self.registry,
            p99_bound_s=self.thresholds.p99_limit_s,
            window=self.latency_window,
            min_samples=self.latency_min_samples,
        )
        self._samples = 0
        self._fresh_at: float | None = None
        self._last_book: dict[str, tuple[Any, ...]] = {}
        self._changed_at: dict[str, float] = {}  # symbol → when its book last moved

    def success(self, seconds: float, op: str = "read") -> None:
        self.calls += 1
        self.dns_failures = 0
        self.breaker.record_success(seconds)
        self.latency.observe(seconds, op)
        self._samples = min(self._samples + 1, self.latency_window)

    def failure(self, exc: BaseException) -> None:
        self.calls += 1
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if is_dns_failure(exc):
            self.dns_failures += 1
        self.breaker.record_failure(self.last_error)

    def note_book(self, symbol: str, book: OrderBook) -> None:
        """A book whose timestamp, update id or top of book moved is fresh telemetry; a frozen one
        is not (venue clocks differ from ours, so only the book's own change is trusted)."""
        key = (book.timestamp_ms, book.nonce, book.bids[:1], book.asks[:1])
        if self._last_book.get(symbol) != key or self._fresh_at is None:
            self._last_book[symbol] = key
            self._fresh_at = self._changed_at[symbol] = self.clock()

    def book_age(self, symbol: str) -> float | None:
        """Seconds since ``symbol``'s book last moved (one pair's feed can stop while others move)."""
        at = self._changed_at.get(symbol)
        return None if at is None else self.clock() - at

    def snapshot(self) -> HealthSnapshot:
        p99 = self.latency.p99 if self._samples >= self.latency_min_samples else None
        age = None if self._fresh_at is None else self.clock() - self._fresh_at
        return HealthSnapshot(
            venue=self.venue,
            breaker_open=self.breaker.state is BreakerState.OPEN,
            dns_failures=self.dns_failures,
            telemetry_age_s=age,
            p99_latency_s=p99,
        )

    def describe(self) -> dict[str, Any]:
        s = self.snapshot()
        return {
            "breaker": self.breaker.state.value,
            "dnsFailures": s.dns_failures,
            "telemetryAgeSeconds": s.telemetry_age_s,
            "p99LatencySeconds": s.p99_latency_s,
            "submitLatencySeconds": self.latency.percentiles("submit"),
            "calls": self.calls,
            "failures": self.failures,
            "lastError": self.last_error,
        }


class VenueClient(Protocol):
    """The calls the trader makes (every :class:`ExecutionClient` has them)."""

    venue: str

    async def load_markets(self) -> dict[str, MarketRules]: ...
    async def fetch_order_book(self, symbol: str, limit: int = 20) -> OrderBook: ...
    async def fetch_balance(self) -> dict[str, Decimal]: ...
    async def fetch_holdings(self) -> dict[str, Decimal]: ...
    async def fetch_last_price(self, symbol: str) -> Decimal: ...
    async def fetch_trade_history(self, symbol: str, page: int = 1000) -> list[Fill]: ...
    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder: ...
    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder: ...
    async def fetch_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder: ...
    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]: ...
    async def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[Fill]: ...
    async def close(self) -> None: ...


class MonitoredClient:
    """Pass-through client that records every call's outcome and latency in :class:`VenueHealth`.

    Transport failures (``ExchangeUnavailable``: 5xx, timeouts, dropped connections, DNS, rate
    limits) count against the venue; an order reject is the venue answering (``record_reject``);
    other library errors (``OrderNotFound``...) are answers too and count as successes.
    """

    def __init__(
        self,
        inner: VenueClient,
        health: VenueHealth,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        slow_s: float = 2.0,
    ) -> None:
        self.inner = inner
        self.health = health
        self.venue = inner.venue
        self.retry = retry or RetryPolicy(max_attempts=1)
        self.sleep = sleep
        self.slow_s = slow_s
        self.retries = 0  # attempts repeated after a retryable failure (each one also observed)
        self.slow_calls = 0  # calls answered, but slower than ``slow_s``
        self.last_trouble = ""  # the latest retried error or slow call, for the record

    async def _read(self, call: Callable[[], Awaitable[T]], op: str = "read") -> T:
        """An idempotent call (a read, or a cancel by id): retried on a retryable error with
        jittered exponential backoff (74). Never a submit — a lost answer there is settled by
        asking the venue about the client id, not by sending again."""

        async def counted(_attempt: int, error: TradingError, _wait: float) -> None:
            self.retries += 1
            self.last_trouble = f"{op} retried after {type(error).__name__}: {error}"[:300]

        return await retry_call(
            lambda: self._observe(call, op), self.retry, sleep=self.sleep, on_retry=counted
        )

    async def _observe(self, call: Callable[[], Awaitable[T]], op: str) -> T:
        t0 = self.health.clock()
        try:
            out = await call()
        except ExchangeUnavailable as e:
            self.health.failure(e)
            raise
        except OrderRejected:
            self.health.breaker.record_reject()
            raise
        except Exception:
            self._answered(self.health.clock() - t0, op)
            raise
        self._answered(self.health.clock() - t0, op)
        return out

    def _answered(self, elapsed: float, op: str) -> None:
        self.health.success(elapsed, op)
        if elapsed > self.slow_s:
            self.slow_calls += 1
            self.last_trouble = f"{op} answered in {elapsed:.1f}s (slow above {self.slow_s:g}s)"

    async def load_markets(self) -> dict[str, MarketRules]:
        return await self._read(self.inner.load_markets)

    async def fetch_order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        book = await self._read(lambda: self.inner.fetch_order_book(symbol, limit))
        self.health.note_book(symbol, book)
        return book

    async def fetch_balance(self) -> dict[str, Decimal]:
        return await self._read(self.inner.fetch_balance)

    async def fetch_holdings(self) -> dict[str, Decimal]:
        return await self._read(self.inner.fetch_holdings)

    async def fetch_last_price(self, symbol: str) -> Decimal:
        return await self._read(lambda: self.inner.fetch_last_price(symbol))

    async def fetch_trade_history(self, symbol: str, page: int = 1000) -> list[Fill]:
        return await self._read(lambda: self.inner.fetch_trade_history(symbol, page))

    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder:
        return await self._observe(lambda: self.inner.create_order(intent, client_order_id), "submit")

    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        return await self._read(
            lambda: self.inner.cancel_order(
                symbol, venue_order_id=venue_order_id, client_order_id=client_order_id
            ),
            "cancel",
        )

    async def fetch_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        return await self._read(
            lambda: self.inner.fetch_order(
                symbol, venue_order_id=venue_order_id, client_order_id=client_order_id
            )
        )

    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]:
        return await self._read(lambda: self.inner.fetch_open_orders(symbol))

    async def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[Fill]:
        return await self._read(lambda: self.inner.fetch_my_trades(symbol, since_ms))

    async def close(self) -> None:
        await self.inner.close()


class RegimeTracker:
    """Current regime per pair from a bounded history of polled mids (``None`` while warming up)."""

    def __init__(self, config: RegimeConfig | None = None, rv_window: int = 20) -> None:
        self.config = config or RegimeConfig()
        self.rv_window = rv_window
        self.need = self.config.vol_lookback // 2 + self.rv_window + 2
        self.keep = self.config.vol_lookback + max(self.config.window, self.rv_window) + 2
        self.history: dict[str, deque[tuple[int, float]]] = {}
        self.current: dict[str, str | None] = {}

    def add(self, pair: str, ts_ms: int, price: float) -> str | None:
        h = self.history.setdefault(pair, deque(maxlen=self.keep))
        if h and ts_ms <= h[-1][0]:
            ts_ms = h[-1][0] + 1  # polls faster than the venue clock: keep the series strictly ordered
        h.append((ts_ms, price))
        regime: str | None = None
        if len(h) >= self.need:
            import polars as pl  # lazily: agents that never trade should not pay numba's import

            from quantops_trading.features.rolling import rolling_features
            from quantops_trading.signals.regime import detect_regimes

            bars = pl.DataFrame(
                {
                    "ts_ms": [t for t, _ in h],
                    "close": [p for _, p in h],
                    "volume": [1.0] * len(h),
                }
            )
            feats = rolling_features(bars, window=self.rv_window, by=())
            last = detect_regimes(feats, self.config)["regime"][-1]
            regime = None if last is None else str(last)
        self.current[pair] = regime
        return regime

    def rv_per_poll(self, pair: str) -> float | None:
        """Realised volatility of the last ``rv_window`` returns between polls (None until then)."""
        h = self.history.get(pair)
        if h is None or len(h) <= self.rv_window:
            return None
        return realised_vol([p for _, p in list(h)[-self.rv_window - 1 :]])
