"""Orders whose fate the trader does not know, held until the venue says what became of them.

Why it exists: a submit that dies in transport (timeout, dropped connection, 5xx) may or may not
have placed the order. Treating it as rejected loses the order — its fills would be ignored as
someone else's and the next tick would send the same exposure again — and treating it as placed
invents one. So the client order id is kept here, the strategy sends nothing more on that pair
(fail closed), and each sync asks the venue for the order by its client id: found → adopted;
unknown once ``grace_s`` has passed since the send → never placed. The grace must outlast the
venue's acceptance window (Binance refuses a request older than ``recvWindow``, 5 s in the adapter,
and the client gives up after its 10 s timeout), so a late-arriving submit cannot appear afterwards.

A restart is the same question asked of the previous run: :func:`left_open` reads a strategy's
event log for the orders it placed and never saw end (and its unsettled lost answers), and they
are held here until the venue answers, so a crash loses neither their fills nor their working state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from quantops_trading.execution.errors import OrderNotFound, TradingError
from quantops_trading.execution.types import VenueOrder

__all__ = ["LOG_KINDS", "InFlight", "Resolution", "Unresolved", "left_open", "symbol_of"]

LOG_KINDS = frozenset(
    {"order_submitted", "order_filled", "order_cancelled", "order_gone", "order_adopted"}
    | {"order_unresolved", "order_rejected"}
)
"""The event-log kinds :func:`left_open` reads (a reader may skip decoding the others)."""

FetchByClientId = Callable[[str, str], Awaitable[VenueOrder]]
"""``(symbol, client_order_id) → the venue's order``; raises OrderNotFound when it has none."""


@dataclass(frozen=True)
class Unresolved:
    strategy: str
    symbol: str
    reduce_only: bool
    error: str  # why its fate is unknown (what the send raised, or "restart")
    sent_at: float  # wall seconds; 0 when the venue is known to have accepted it
    order: Mapping[str, Any] | None = None  # the domain Order (JSON) when not yet logged as submitted


@dataclass(frozen=True)
class Resolution:
    client_order_id: str
    item: Unresolved
    order: VenueOrder | None  # None: the venue has no such order


class InFlight:
    """The unsettled orders of one trader, keyed by client order id."""

    def __init__(self, grace_s: float = 20.0) -> None:
        self.grace_s = grace_s
        self.items: dict[str, Unresolved] = {}

    def add(self, client_order_id: str, item: Unresolved) -> None:
        self.items[client_order_id] = item

    def blocks(self, strategy: str, symbol: str) -> bool:
        """Whether the strategy has an unsettled order on ``symbol`` (it must send nothing there)."""
        return any(u.strategy == strategy and u.symbol == symbol for u in self.items.values())

    async def resolve(self, fetch: FetchByClientId, now: float) -> list[Resolution]:
        """Ask the venue about every unsettled order; return the ones it settled.

        A venue that still cannot answer leaves the order unsettled (and its pair blocked)."""
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


def symbol_of(instrument_id: str) -> str:
    """``BTC/USDT@venue`` → ``BTC/USDT`` (the domain model's instrument id, the venue's symbol)."""
    return instrument_id.rsplit("@", 1)[0]


def left_open(strategy: str, records: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Unresolved]:
    """The orders a strategy's event log (``(kind, data)`` in order) placed or lost and never saw end.

    Placed: ``order_submitted`` not cancelled and not fully filled (nor found final or gone by an
    earlier restart: ``order_adopted``, ``order_gone``). Lost: ``order_unresolved`` not followed
    by its submission or its release."""
    placed: dict[str, tuple[str, Decimal, bool]] = {}
    filled: dict[str, Decimal] = {}
    ended: set[str] = set()
    lost: dict[str, Mapping[str, Any]] = {}
    for kind, d in records:
        if kind == "order_submitted":
            o = d["order"]
            cid = str(d.get("lineage", {}).get("clientOrderId") or o["client_order_id"])
            placed[cid] = (symbol_of(o["instrument_id"]), Decimal(str(o["quantity"])), bool(o["reduce_only"]))
            lost.pop(cid, None)
        elif kind == "order_filled":
            cid = str(d["fill"]["client_order_id"])
            filled[cid] = filled.get(cid, Decimal(0)) + Decimal(str(d["fill"]["quantity"]))
        elif kind in ("order_cancelled", "order_gone") or (kind == "order_adopted" and d["status"] != "open"):
            ended.add(str(d["client_order_id"]))
        elif kind == "order_unresolved" and "order" in d:
            lost[str(d["client_order_id"])] = d
        elif kind == "order_rejected" and "client_order_id" in d:
            lost.pop(str(d["client_order_id"]), None)
    out = {
        cid: Unresolved(strategy, symbol, reduce_only, "restart: placed by the previous run", 0.0)
        for cid, (symbol, qty, reduce_only) in placed.items()
        if cid not in ended and filled.get(cid, Decimal(0)) < qty
    }
    for cid, d in lost.items():
        o = d["order"]
        out[cid] = Unresolved(
            strategy,
            symbol_of(o["instrument_id"]),
            bool(o["reduce_only"]),
            f"restart: {d.get('error', 'lost answer')}",
            int(d["ts_ns"]) / 1e9,
            o,
        )
    return out
