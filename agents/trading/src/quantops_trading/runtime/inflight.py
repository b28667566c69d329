"""Order submits whose answer was lost, held until the venue says what became of them.

Why it exists: a submit that dies in transport (timeout, dropped connection, 5xx) may or may not
have placed the order. Treating it as rejected loses the order — its fills would be ignored as
someone else's and the next tick would send the same exposure again — and treating it as placed
invents one. So the client order id is kept here, the strategy sends nothing more on that pair
(fail closed), and each sync asks the venue for the order by its client id: found → adopted;
unknown once ``grace_s`` has passed since the send → never placed. The grace must outlast the
venue's acceptance window (Binance refuses a request older than ``recvWindow``, 5 s in the adapter,
and the client gives up after its 10 s timeout), so a late-arriving submit cannot appear afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from quantops_trading.execution.errors import OrderNotFound, TradingError
from quantops_trading.execution.types import VenueOrder
from quantops_trading.risk.book import OrderRequest

__all__ = ["InFlight", "Resolution", "Unresolved"]

FetchByClientId = Callable[[str, str], Awaitable[VenueOrder]]
"""``(symbol, client_order_id) → the venue's order``; raises OrderNotFound when it has none."""


@dataclass(frozen=True)
class Unresolved:
    strategy: str
    symbol: str
    request: OrderRequest
    error: str  # what the send raised
    sent_at: float  # wall seconds


@dataclass(frozen=True)
class Resolution:
    client_order_id: str
    item: Unresolved
    order: VenueOrder | None  # None: the venue never placed it


class InFlight:
    """The lost-answer submits of one trader, keyed by client order id."""

    def __init__(self, grace_s: float = 20.0) -> None:
        self.grace_s = grace_s
        self.items: dict[str, Unresolved] = {}

    def add(self, client_order_id: str, item: Unresolved) -> None:
        self.items[client_order_id] = item

    def blocks(self, strategy: str, symbol: str) -> bool:
        """Whether the strategy has an unresolved submit on ``symbol`` (it must send nothing there)."""
        return any(u.strategy == strategy and u.symbol == symbol for u in self.items.values())

    async def resolve(self, fetch: FetchByClientId, now: float) -> list[Resolution]:
        """Ask the venue about every unresolved submit; return the ones it settled.

        A venue that still cannot answer leaves the submit unresolved (and its pair blocked)."""
        out: list[Resolution] = []
        for cid, u in list(self.items.items()):
            try:
                order: VenueOrder | None = await fetch(u.symbol, cid)
            except OrderNotFound:
                if now - u.sent_at < self.grace_s:
                    continue  # the send may still be on its way to the matching engine
                order = None
            except TradingError:
                continue
            del self.items[cid]
            out.append(Resolution(cid, u, order))
        return out
