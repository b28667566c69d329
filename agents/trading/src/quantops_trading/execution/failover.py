"""Automatic switch to a backup venue on sustained errors, and back after recovery (roadmap 69).

Why it exists: when the primary venue degrades, new orders should go to a healthy backup — but a
single blip must not flip routing, and flapping between venues is worse than either. Hysteresis:
switch away after ``switch_after`` consecutive bad evaluations (breaker not closed, or health below
``low``); switch back only after ``recover_after`` consecutive good probes with health at least
``high``. Only *new* submits are routed: an ambiguous submit on one venue is reconciled there,
never re-sent elsewhere (that would double the position).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from quantops_trading.execution.breaker import BreakerState
from quantops_trading.execution.connector import VenueConnector
from quantops_trading.execution.types import OrderIntent, VenueOrder

__all__ = ["Failover"]


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
