"""The automatic unwind ladder for severe stress (roadmap 58).

Why it exists: under STOP nothing may trade — except getting *out*. Dumping a whole position with
one market order in a stressed market pays the worst price; the policy's ``unwindLadder`` instead
de-risks in stages: rungs ordered by ``afterSeconds`` (typically passive limit → aggressive limit →
market), each child order capped at ``maxFraction`` of what is left. :class:`UnwindLadder` takes
one step per call (a runner calls :meth:`UnwindLadder.step` on a timer, or :meth:`run` does it with
an injected sleep): it cancels the previous unfilled child, picks the rung for the elapsed time,
and submits a reduce-only child through the gateway's unwind path (the only orders STOP admits).

Every start, child, denial, venue reject, completion and interruption is an ``UnwindStep`` audit
event, and :meth:`UnwindLadder.interrupt` stops it at once (a human takes over, or the stress is
gone); :meth:`UnwindLadder.abort` also cancels the working child. Children are rounded down to the
venue's ``step_size``; a remainder below ``min_qty`` is dust and ends the ladder. ``on_child`` lets
the runner (the trader) track each child's venue order so its fills reach the book, and ``sync``
books the fills of the child just cancelled before the next one is sized (else a child that filled
since the last poll would be sold twice).

What it must not do: bypass the gateway, or flip a position (children never exceed what is held).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from decimal import ROUND_DOWN, Decimal

from quantops_api import Gate
from quantops_api.v1alpha1.riskpolicy import UnwindRung
from quantops_trading.execution.client_ids import client_order_id
from quantops_trading.execution.errors import ExchangeUnavailable, OrderNotFound, TradingError
from quantops_trading.execution.types import OrderIntent, OrderType, Side, VenueOrder, is_dust
from quantops_trading.risk.book import OrderRequest
from quantops_trading.risk.events import UnwindStep, ts_ns_of
from quantops_trading.risk.gateway import Decision, RiskGateway
from quantops_trading.risk.killswitches import GLOBAL, pair_scope, strategy_scope

__all__ = ["UnwindLadder", "ladders_for_stress", "stopped_positions"]

_STEP = Decimal("0.00000001")


class UnwindLadder:
    """Staged de-risking of one strategy's position in one pair."""

    def __init__(
        self,
        gateway: RiskGateway,
        strategy: str,
        pair: str,
        *,
        rungs: list[UnwindRung] | None = None,
        aggressive_bps: Decimal = Decimal(20),
        reason: str = "severe stress",
        step_size: Decimal = _STEP,
        min_qty: Decimal = Decimal(0),
        on_child: Callable[[Decision], None] | None = None,
        sync: Callable[[], Awaitable[None]] | None = None,
        lookup: Callable[[str, str], Awaitable[VenueOrder]] | None = None,
    ) -> None:
        ladder = rungs if rungs is not None else gateway.policies(strategy)[0].unwind_ladder
        if not ladder:
            raise ValueError(f"no unwind ladder in the policy of {strategy}; refusing to improvise one")
        self.gateway = gateway
        self.strategy = strategy
        self.pair = pair
        self.rungs = sorted(ladder, key=lambda r: r.after_seconds)
        self.aggressive_bps = aggressive_bps
        self.step_size = step_size if step_size > 0 else _STEP
        self.min_qty = min_qty
        self.on_child = on_child
        self.sync = sync
        self.lookup = lookup  # (symbol, client order id) → the venue's order: adopts a lost child
        self.reason = reason
        self.started_at = gateway.clock()
        self.steps: list[UnwindStep] = []
        self.interrupted = False
        self.done = False
        self._children = 0
        self._working: str | None = None
        self._lost: set[str] = set()  # children whose submit answer was lost in transport
        self._emit("start", -1, "", Decimal(0), None, reason)

    @property
    def remaining(self) -> Decimal:
        return self.gateway.book.position(self.strategy, self.pair)

    def _emit(
        self,
        action: str,
        rung: int,
        style: str,
        qty: Decimal,
        price: Decimal | None,
        why: str,
        client_order_id: str | None = None,
    ) -> None:
        step = UnwindStep(
            ts_ns=ts_ns_of(self.gateway.clock()),
            strategy_id=self.strategy,
            symbol=self.pair,
            action=action,
            rung=rung,
            style=style,
            quantity=str(qty),
            price=None if price is None else str(price),
            remaining=str(self.remaining),
            reason=why,
            client_order_id=client_order_id,
        )
        self.steps.append(step)
        self.gateway.audit(step)

    def interrupt(self, reason: str) -> None:
        if not (self.interrupted or self.done):
            self.interrupted = True
            self._emit("interrupted", -1, "", Decimal(0), None, reason)

    async def abort(self, reason: str) -> None:
        """Interrupt and cancel the working child (a gate back to GO/PAUSE, a human taking over)."""
        if self.interrupted or self.done:
            return
        self.interrupt(reason)
        await self._cancel_working()

    async def _cancel_working(self) -> None:
        """Cancel the working child before the next one; a venue that cannot answer keeps it working
        (the next step tries again) so no second child is sent beside one that may still rest."""
        cid, self._working = self._working, None
        if cid is None:
            return
        order: VenueOrder | None = None
        try:
            order = await self.gateway.cancel(self.strategy, self.pair, cid)
        except OrderNotFound:  # already final (filled): fills come via the runner
            if cid in self._lost and self.lookup is not None:  # filled unheard-of, or never placed
                with contextlib.suppress(OrderNotFound):
                    order = await self.lookup(self.pair, cid)
        except TradingError:
            self._working = cid
            raise
        self.gateway.order_closed(cid)
        if cid in self._lost:
            self._lost.discard(cid)
            if order is not None and self.on_child is not None:  # its fills are ours: book them
                self.on_child(Decision("sent", Gate.STOP, venue_order=order, client_order_id=cid))

    @property
    def working(self) -> str | None:
        """Client order id of the child currently on the venue, if any."""
        return self._working

    def current_rung(self) -> int | None:
        elapsed = self.gateway.clock() - self.started_at
        due = [i for i, r in enumerate(self.rungs) if r.after_seconds <= elapsed]
        return due[-1] if due else None

    async def step(self) -> UnwindStep | None:
        """One ladder action; ``None`` when finished, interrupted or the first rung is not due."""
        if self.interrupted or self.done:
            return None
        await self._cancel_working()
        if self.sync is not None:  # book what the cancelled child filled before sizing the next
            await self.sync()
        remaining = self.remaining
        if remaining == 0 or is_dust(remaining, self.min_qty, self.step_size):
            self.done = True
            why = "position flat" if remaining == 0 else f"remainder {remaining} below the venue minimum"
            self._emit("done", -1, "", Decimal(0), None, why)
            return self.steps[-1]
        i = self.current_rung()
        if i is None:
            return None
        rung = self.rungs[i]
        held = (abs(remaining) / self.step_size).to_integral_value(ROUND_DOWN) * self.step_size
        qty = (abs(remaining) * Decimal(str(rung.max_fraction)) / self.step_size).to_integral_value(
            ROUND_DOWN
        ) * self.step_size
        qty = min(held, max(qty, self.min_qty, self.step_size))
        side = Side.SELL if remaining > 0 else Side.BUY
        mark = self.gateway.book.mark(self.pair)
        price: Decimal | None
        if rung.style == "market":
            price, otype = None, OrderType.MARKET
        else:
            cross = self.aggressive_bps / Decimal(10_000) if rung.style == "aggressive" else Decimal(0)
            price = mark * (1 - cross) if side is Side.SELL else mark * (1 + cross)
            otype = OrderType.LIMIT
        self._children += 1
        intent = OrderIntent(
            strategy_id=self.strategy,
            intent_id=f"unwind-{self.pair}-{int(self.started_at)}-{self._children}",
            symbol=self.pair,
            side=side,
            type=otype,
            quantity=qty,
            price=price,
            reduce_only=True,
        )
        try:
            decision = await self.gateway.submit(OrderRequest(intent, mark, unwind=True))
        except ExchangeUnavailable as e:  # the child may be on the venue: work it as if it were
            cid = client_order_id(self.strategy, intent.intent_id)
            self._working = cid
            self._lost.add(cid)
            why = f"answer lost ({e}): cancelled, or adopted if it filled, before the next child"
            self._emit("unresolved", i, rung.style, qty, price, why, cid)
            return self.steps[-1]
        except TradingError as e:
            self._emit("rejected", i, rung.style, qty, price, f"venue refused the child: {e}")
            return self.steps[-1]
        if decision.denied:
            self._emit("denied", i, rung.style, qty, price, "; ".join(m for _, m in decision.reasons))
        else:
            self._working = decision.client_order_id
            if self.on_child is not None:
                self.on_child(decision)
            self._emit(
                "child_order",
                i,
                rung.style,
                qty,
                price,
                f"rung {i} ({rung.style}) after {rung.after_seconds}s",
                decision.client_order_id,
            )
        return self.steps[-1]

    async def run(
        self, *, every_s: float = 1.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> list[UnwindStep]:
        """Step until flat or interrupted (the sleep is injected for tests)."""
        while not (self.done or self.interrupted):
            await self.step()
            if not (self.done or self.interrupted):
                await sleep(every_s)
        return self.steps


def stopped_positions(gateway: RiskGateway) -> list[tuple[str, str, str]]:
    """``(strategy, pair, why)`` for every open position under STOP whose policy asks to flatten.

    STOP counts on the ``global`` scope (policy gate, kill switches and the agent's own gate), the
    strategy's scope or the pair's scope. A venue-scope STOP (telemetry starvation) does not start a
    ladder: unwinding blind on a venue we cannot see is not de-risking.
    """
    out = []
    for (strategy, pair), h in sorted(gateway.book.holdings.items()):
        if not h.qty or not gateway.policies(strategy)[0].unwind_ladder:
            continue
        scopes = (GLOBAL, strategy_scope(strategy), pair_scope(pair))
        stopped = [sc for sc in scopes if gateway.scope_gate(sc) is Gate.STOP]
        if stopped:
            out.append((strategy, pair, f"gate STOP on {', '.join(stopped)}"))
    return out


def ladders_for_stress(
    gateway: RiskGateway,
    reason: str = "severe stress",
    *,
    active: Iterable[tuple[str, str]] = (),
) -> list[UnwindLadder]:
    """A ladder for every stopped position (see :func:`stopped_positions`) not already unwinding."""
    skip = set(active)
    return [
        UnwindLadder(gateway, strategy, pair, reason=f"{reason}: {why}")
        for strategy, pair, why in stopped_positions(gateway)
        if (strategy, pair) not in skip
    ]
