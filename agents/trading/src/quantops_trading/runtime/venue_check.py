"""The trader's reconciliation with the venue: before its first order and on a schedule (75, 79).

Why it exists: the trader's books (rebuilt from its event logs at a restart) are what it sizes
against; the venue's balances are what it holds. A trader that lost its state volume, crashed
between a send and its log record, or refused a fill holds more or less than it believes, and
target-based sizing would buy the difference again. :class:`VenueCheck` compares the venue's
holdings of each traded base asset with baseline + booked fills
(:class:`~quantops_trading.execution.holdings.Holdings`); a drift seen on two consecutive passes
(a fill landing between the two reads is not a drift) PAUSEs the asset's pairs with the numbers as
the reason — the ``reconcile`` kill switch, audited and published like every other — and a pass
that agrees again lifts it. The baseline is taken at the first start and kept in the risk log
(``venue_baseline``), extended when a new asset is traded. Orders with our client-id shape open on
the venue but unknown to the books (a crash before the send was logged) are cancelled before the
first order: nobody decided them in this run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Protocol

from quantops_api import Gate
from quantops_trading.execution.client_ids import is_ours
from quantops_trading.execution.holdings import Drift, Holdings
from quantops_trading.execution.types import Fill, VenueOrder
from quantops_trading.risk.killswitches import SwitchAction, pair_scope
from quantops_trading.storage.eventlog import EventLog

__all__ = ["SWITCH", "VenueCheck"]

SWITCH = "reconcile"
"""The kill switch a confirmed drift sets on the asset's pairs (PAUSE; lifted when it agrees)."""


class _Venue(Protocol):
    async def fetch_holdings(self) -> dict[str, Decimal]: ...
    async def fetch_trade_history(self, symbol: str, page: int = 1000) -> list[Fill]: ...
    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]: ...
    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder: ...


class VenueCheck:
    """Baseline, drift confirmation and the ``reconcile`` switch actions for one trader."""

    def __init__(
        self,
        venue: _Venue,
        holdings: Holdings,
        log: EventLog,
        every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.venue, self.holdings, self.log, self.every_s, self.clock = venue, holdings, log, every_s, clock
        self.suspect: dict[str, Decimal] = {}  # asset → delta seen on the last pass, not yet confirmed
        self.paused: dict[str, Drift] = {}  # asset → the confirmed drift its pairs are PAUSEd for
        self.passes = 0
        self._last = -float("inf")
        for e in log.entries():
            if e.kind == "venue_baseline":
                self.holdings.baseline = {a: Decimal(v) for a, v in e.data()["balances"].items()}

    async def take_baseline(self, seen: set[str]) -> None:
        """The first start (or a newly traded asset): the venue's holdings without the fills on it
        that no book of ours holds (``seen``: the trade ids the books hold)."""
        known = self.holdings.baseline or {}
        new = [a for a in self.holdings.assets if a not in known]
        if not new:
            return
        symbols = [s for a in new for s in self.holdings.assets[a]]
        history = [f for s in symbols for f in await self.venue.fetch_trade_history(s)]
        unowned = [f for f in history if f.trade_id not in seen]
        venue = await self.venue.fetch_holdings()
        taken = self.holdings.take_baseline(venue, unowned)
        self.holdings.baseline = {**taken, **known}
        rec = {a: str(v) for a, v in self.holdings.baseline.items()}
        self.log.append(
            {"kind": "venue_baseline", "ts_ns": time.time_ns(), "balances": rec, "unownedFills": len(unowned)}
        )

    async def cancel_orphans(self, known: Iterable[str]) -> list[dict[str, Any]]:
        """Cancel our-shaped orders open on the venue that no book of ours knows (``known``)."""
        known = set(known)
        out = []
        for symbol in sorted({s for ss in self.holdings.assets.values() for s in ss}):
            for o in await self.venue.fetch_open_orders(symbol):
                if is_ours(o.client_order_id) and o.client_order_id not in known:
                    await self.venue.cancel_order(symbol, client_order_id=o.client_order_id)
                    rec = {"kind": "orphan_order_cancelled", "ts_ns": time.time_ns(), "symbol": symbol}
                    rec |= {"client_order_id": o.client_order_id, "filled": str(o.filled)}
                    self.log.append(rec)
                    out.append(rec)
        return out

    def due(self) -> bool:
        unconfirmed = any(a not in self.paused for a in self.suspect)
        return unconfirmed or self.clock() - self._last >= self.every_s

    async def check(self) -> list[SwitchAction]:
        """One pass (after the fills were synced): confirmed drifts PAUSE, agreements lift."""
        self._last, self.passes = self.clock(), self.passes + 1
        drifts = {d.asset: d for d in self.holdings.drift(await self.venue.fetch_holdings())}
        actions: list[SwitchAction] = []
        for asset, d in drifts.items():
            if self.suspect.get(asset) != d.delta:
                self.suspect[asset] = d.delta  # first seen, or still moving: look again next pass
                continue
            if asset not in self.paused:
                self.paused[asset] = d
                why = f"reconciliation: {d.describe()}"
                actions += [SwitchAction(pair_scope(s), SWITCH, Gate.PAUSE, why) for s in d.symbols]
        for asset in [a for a in self.suspect if a not in drifts]:
            del self.suspect[asset]
        for asset in [a for a in self.paused if a not in drifts]:
            d = self.paused.pop(asset)
            why = f"reconciliation: the venue agrees with the books again on {asset}"
            actions += [SwitchAction(pair_scope(s), SWITCH, None, why) for s in d.symbols]
        return actions

    def describe(self) -> dict[str, Any]:
        """For ``/status``: passes run, drifts awaiting confirmation, assets PAUSEd and why."""
        return {
            "passes": self.passes,
            "unconfirmed": {a: str(d) for a, d in self.suspect.items() if a not in self.paused},
            "paused": {a: d.describe() for a, d in self.paused.items()},
        }
