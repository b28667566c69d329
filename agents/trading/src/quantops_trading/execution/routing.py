"""Venue selection: routing matrix by liquidity and fees (roadmap 70) and failover (roadmap 69).

Why it exists: the same order costs different amounts on different venues — a deeper book means
less price impact, a lower fee less drag. For each venue the book is walked for the order's size to
get the VWAP, the taker fee is applied, and venues are ranked by the all-in price (lowest for a buy,
highest for a sell). Venues whose visible depth cannot fill the size rank after those that can.
:func:`routing_matrix` does this per symbol. Pure; books and fees are passed in.

:class:`Failover` (roadmap 69) picks the venue for new submits over time: when the primary degrades,
switch to the backup after ``switch_after`` consecutive bad evaluations (breaker not closed or
health below ``low``), and back only after ``recover_after`` consecutive good probes with health at
least ``high`` — hysteresis, because flapping is worse than either venue. Only *new* submits are
routed: an ambiguous submit is reconciled on its own venue, never re-sent elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from quantops_trading.execution.breaker import BreakerState
from quantops_trading.execution.connector import VenueConnector
from quantops_trading.execution.types import OrderBook, OrderIntent, Side, VenueOrder

__all__ = ["Failover", "RouteChoice", "rank_venues", "routing_matrix"]


@dataclass(frozen=True)
class RouteChoice:
    venue: str
    fillable: Decimal
    vwap: Decimal | None
    all_in: Decimal | None  # VWAP after the taker fee
    complete: bool


def _walk(levels: tuple[tuple[Decimal, Decimal], ...], qty: Decimal) -> tuple[Decimal, Decimal | None]:
    left, cost = qty, Decimal(0)
    for px, q in levels:
        take = min(left, q)
        cost += take * px
        left -= take
        if left <= 0:
            break
    got = qty - left
    return got, (cost / got if got > 0 else None)


def rank_venues(
    side: Side, quantity: Decimal, books: dict[str, OrderBook], taker_fees: dict[str, Decimal]
) -> list[RouteChoice]:
    """Venues best first for ``side`` × ``quantity``."""
    out: list[RouteChoice] = []
    for venue, book in books.items():
        got, vwap = _walk(book.asks if side is Side.BUY else book.bids, quantity)
        fee = taker_fees.get(venue, Decimal(0))
        all_in = None if vwap is None else (vwap * (1 + fee) if side is Side.BUY else vwap * (1 - fee))
        out.append(RouteChoice(venue, got, vwap, all_in, got >= quantity))

    def key(c: RouteChoice) -> tuple[int, Decimal]:
        if c.all_in is None:
            return (2, Decimal(0))
        return (0 if c.complete else 1, c.all_in if side is Side.BUY else -c.all_in)

    return sorted(out, key=key)


def routing_matrix(
    side: Side,
    quantities: dict[str, Decimal],
    books: dict[str, dict[str, OrderBook]],
    taker_fees: dict[str, Decimal],
) -> dict[str, list[RouteChoice]]:
    """symbol → ranked venues; ``books`` is symbol → venue → book."""
    return {sym: rank_venues(side, qty, books.get(sym, {}), taker_fees) for sym, qty in quantities.items()}


@dataclass
class Failover:
    primary: VenueConnector
    backup: VenueConnector
    switch_after: int = 3
    recover_after: int = 5
    low: float = 0.5
    high: float = 0.8
    on_backup: bool = False
    switches: list[str] = field(default_factory=list)
    _bad: int = 0
    _good: int = 0

    @property
    def active(self) -> VenueConnector:
        return self.backup if self.on_backup else self.primary

    def _primary_bad(self) -> bool:
        b = self.primary.breaker
        return b.state is not BreakerState.CLOSED or b.health < self.low

    async def evaluate(self) -> VenueConnector:
        """Update streaks (probing the primary while on backup) and return the active connector."""
        if not self.on_backup:
            self._bad = self._bad + 1 if self._primary_bad() else 0
            if self._bad >= self.switch_after:
                self.on_backup, self._bad, self._good = True, 0, 0
                self.switches.append(f"{self.primary.venue} → {self.backup.venue}")
        else:
            if self.primary.breaker.allow():
                await self.primary.heartbeat()
            good = (
                self.primary.breaker.state is BreakerState.CLOSED and self.primary.breaker.health >= self.high
            )
            self._good = self._good + 1 if good else 0
            if self._good >= self.recover_after:
                self.on_backup, self._bad, self._good = False, 0, 0
                self.switches.append(f"{self.backup.venue} → {self.primary.venue}")
        return self.active

    async def submit(
        self, intent: OrderIntent, attempt: int = 0, *, position: Decimal | None = None
    ) -> VenueOrder:
        """Submit on the venue that is active after evaluation."""
        connector = await self.evaluate()
        return await connector.submit(intent, attempt, position=position)
