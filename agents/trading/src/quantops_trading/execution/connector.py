"""The per-venue connector: the one door through which orders reach a venue.

Why it exists: it composes the execution policies around an :class:`ExecutionClient` so every
caller gets them for free and in the same order —

* start: DNS check (68) → warm-up heartbeats (79) → markets;
* every call: circuit breaker gate (67) → retries with backoff/jitter/cap (74) → health update;
* submit: local validation + library reduce-only → book sanity (72) → deterministic client id
  (71) → send; a ``DuplicateOrder`` answer means "already placed" and is resolved by fetching the
  order by client id, so a retried submit can never create a second order → latency
  histogram and p99 gate (73).

It must not catch ccxt errors (the adapter translated them) and holds no order book-keeping
(``reconcile.py`` does).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from quantops_trading.execution.breaker import CircuitBreaker
from quantops_trading.execution.client_ids import client_order_id
from quantops_trading.execution.errors import (
    CircuitOpen,
    ClockSkew,
    DuplicateOrder,
    InvalidOrder,
    NotReady,
    OrderRejected,
    TradingError,
)
from quantops_trading.execution.latency import LatencyTracker
from quantops_trading.execution.pretrade import check_book, check_intent, check_reduce_only
from quantops_trading.execution.retry import RetryPolicy, retry_call
from quantops_trading.execution.types import ExecutionClient, Fill, MarketRules, OrderIntent, VenueOrder

__all__ = ["ConnectorConfig", "VenueConnector"]

T = TypeVar("T")


@dataclass(frozen=True)
class ConnectorConfig:
    warmup_heartbeats: int = 3  # consecutive successful heartbeats before trading (79)
    warmup_max_attempts: int = 20
    warmup_interval_s: float = 0.05
    heartbeat_symbol: str | None = None  # also fetch this ticker in each heartbeat
    check_books: bool = True  # pre-trade book sanity (72)
    book_max_age_ms: int = 5_000
    book_depth: int = 20


class VenueConnector:
    """Breaker + retries + idempotent submits + latency gating around one venue client."""

    def __init__(
        self,
        client: ExecutionClient,
        *,
        config: ConnectorConfig | None = None,
        breaker: CircuitBreaker | None = None,
        retry: RetryPolicy | None = None,
        latency: LatencyTracker | None = None,
        dns_check: Callable[[], Awaitable[object]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.client = client
        self.config = config or ConnectorConfig()
        self.breaker = breaker or CircuitBreaker()
        self.retry = retry or RetryPolicy()
        self.latency = latency or LatencyTracker(client.venue)
        self._dns_check = dns_check
        self._sleep = sleep
        self._now_ms = now_ms
        self.markets: dict[str, MarketRules] = {}
        self.ready = False
        self.heartbeats_ok = 0

    @property
    def venue(self) -> str:
        return self.client.venue

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """DNS check, then ``warmup_heartbeats`` consecutive heartbeats, then load markets."""
        if self._dns_check is not None:
            await self._dns_check()
        cfg = self.config
        for _ in range(cfg.warmup_max_attempts):
            if await self.heartbeat():
                self.heartbeats_ok += 1
                if self.heartbeats_ok >= cfg.warmup_heartbeats:
                    break
            else:
                self.heartbeats_ok = 0
            await self._sleep(cfg.warmup_interval_s)
        if self.heartbeats_ok < cfg.warmup_heartbeats:
            raise NotReady(
                f"{self.venue}: {self.heartbeats_ok}/{cfg.warmup_heartbeats} heartbeats after "
                f"{cfg.warmup_max_attempts} attempts",
                venue=self.venue,
            )
        self.markets = await self.call(self.client.load_markets)
        self.ready = True

    async def heartbeat(self) -> bool:
        """One fetch_time (+ ticker) round trip, feeding the breaker; never raises."""
        t0 = time.perf_counter()
        try:
            await self.client.fetch_time()
            if self.config.heartbeat_symbol:
                await self.client.fetch_last_price(self.config.heartbeat_symbol)
        except TradingError as e:
            self.breaker.record_failure(type(e).__name__)
            return False
        self.breaker.record_success(time.perf_counter() - t0)
        return True

    # -- the guarded call ------------------------------------------------------------------------
    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` behind the breaker with retries; record outcomes into the health score."""

        async def once() -> T:
            if not self.breaker.allow():
                raise CircuitOpen(f"{self.venue}: circuit open", venue=self.venue)
            t0 = time.perf_counter()
            try:
                out = await fn()
            except OrderRejected:
                self.breaker.record_reject()
                raise
            except TradingError as e:
                if e.retryable:
                    self.breaker.record_failure(type(e).__name__)
                raise
            self.breaker.record_success(time.perf_counter() - t0)
            return out

        async def before_retry(attempt: int, error: TradingError, wait: float) -> None:
            resync = getattr(self.client, "resync_clock", None)
            if isinstance(error, ClockSkew) and resync is not None:
                await resync()

        return await retry_call(once, self.retry, sleep=self._sleep, on_retry=before_retry)

    # -- orders -------------------------------------------------------------------------------------
    def client_id_for(self, intent: OrderIntent, attempt: int = 0) -> str:
        return client_order_id(intent.strategy_id, intent.intent_id, attempt)

    async def submit(
        self, intent: OrderIntent, attempt: int = 0, *, position: Decimal | None = None
    ) -> VenueOrder:
        """Place ``intent`` exactly once (per attempt number), whatever the network does."""
        if not self.ready:
            raise NotReady(f"{self.venue}: connector not warmed up", venue=self.venue)
        check_intent(intent, self.markets)
        if intent.reduce_only:
            if position is None:
                raise InvalidOrder("reduce-only order needs the current position")
            check_reduce_only(intent, position)
        if self.config.check_books:
            book = await self.call(
                lambda: self.client.fetch_order_book(intent.symbol, self.config.book_depth)
            )
            verdict = check_book(
                book,
                now_ms=self._now_ms(),
                side=intent.side,
                quantity=intent.quantity,
                max_age_ms=self.config.book_max_age_ms,
            )
            if not verdict.ok:
                raise InvalidOrder(f"{self.venue}: book check failed: {'; '.join(verdict.problems)}")
            ref = book.asks[0][0] if intent.side.value == "buy" else book.bids[0][0]
            check_intent(intent, self.markets, reference_price=ref)
        cid = self.client_id_for(intent, attempt)

        async def send() -> VenueOrder:
            t0 = time.perf_counter()
            try:
                order = await self.client.create_order(intent, cid)
            except DuplicateOrder:
                # An earlier try of this very id reached the venue: adopt that order.
                return await self.client.fetch_order(intent.symbol, client_order_id=cid)
            self.latency.observe(time.perf_counter() - t0)
            return order

        order = await self.call(send)
        if self.latency.degraded:
            self.breaker.degrade(f"p99 submit→ack {self.latency.p99:.3f}s > {self.latency.p99_bound_s}s")
        return order

    async def cancel(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        return await self.call(
            lambda: self.client.cancel_order(
                symbol, venue_order_id=venue_order_id, client_order_id=client_order_id
            )
        )

    async def fetch_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        return await self.call(
            lambda: self.client.fetch_order(
                symbol, venue_order_id=venue_order_id, client_order_id=client_order_id
            )
        )

    async def open_orders(self, symbol: str) -> list[VenueOrder]:
        return await self.call(lambda: self.client.fetch_open_orders(symbol))

    async def my_trades(self, symbol: str, since_ms: int | None = None) -> list[Fill]:
        return await self.call(lambda: self.client.fetch_my_trades(symbol, since_ms))
