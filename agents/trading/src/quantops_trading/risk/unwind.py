"""The automatic unwind ladder for severe stress (roadmap 58).

Why it exists: under STOP nothing may trade — except getting *out*. Dumping a whole position with
one market order in a stressed market pays the worst price; the policy's ``unwindLadder`` instead
de-risks in stages: rungs ordered by ``afterSeconds`` (typically passive limit → aggressive limit →
market), each child order capped at ``maxFraction`` of what is left. :class:`UnwindLadder` takes
one step per call (a runner calls :meth:`UnwindLadder.step` on a timer, or :meth:`run` does it with
an injected sleep): it cancels the previous unfilled child, picks the rung for the elapsed time,
and submits a reduce-only child through the gateway's unwind path (the only orders STOP admits).

Every start, child, denial, completion and interruption is an ``UnwindStep`` audit event, and
:meth:`UnwindLadder.interrupt` stops it at once (a human takes over, or the stress is gone).

What it must not do: bypass the gateway, or flip a position (children never exceed what is held).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import ROUND_DOWN, Decimal

from quantops_api import Gate
from quantops_api.v1alpha1.riskpolicy import UnwindRung
from quantops_trading.execution.types import OrderIntent, OrderType, Side
from quantops_trading.risk.book import OrderRequest
from quantops_trading.risk.events import UnwindStep, ts_ns_of
from quantops_trading.risk.gateway import RiskGateway
from quantops_trading.risk.killswitches import GLOBAL, strategy_scope

__all__ = ["UnwindLadder", "ladders_for_stress"]

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
    ) -> None:
        ladder = rungs if rungs is not None else gateway.policies(strategy)[0].unwind_ladder
        if not ladder:
            raise ValueError(f"no unwind ladder in the policy of {strategy}; refusing to improvise one")
        self.gateway = gateway
        self.strategy = strategy
        self.pair = pair
        self.rungs = sorted(ladder, key=lambda r: r.after_seconds)
        self.aggressive_bps = aggressive_bps
        self.started_at = gateway.clock()
        self.steps: list[UnwindStep] = []
        self.interrupted = False
        self.done = False
        self._children = 0
        self._working: str | None = None
        self._emit("start", -1, "", Decimal(0), None, reason)

    @property
    def remaining(self) -> Decimal:
        return self.gateway.book.position(self.strategy, self.pair)

    def _emit(
        self, action: str, rung: int, style: str, qty: Decimal, price: Decimal | None, why: str
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
        )
        self.steps.append(step)
        self.gateway.audit(step)

    def interrupt(self, reason: str) -> None:
        if not (self.interrupted or self.done):
            self.interrupted = True
            self._emit("interrupted", -1, "", Decimal(0), None, reason)

    def current_rung(self) -> int | None:
        elapsed = self.gateway.clock() - self.started_at
        due = [i for i, r in enumerate(self.rungs) if r.after_seconds <= elapsed]
        return due[-1] if due else None

    async def step(self) -> UnwindStep | None:
        """One ladder action; ``None`` when finished, interrupted or the first rung is not due."""
        if self.interrupted or self.done:
            return None
        if self._working is not None:
            await self.gateway.cancel(self.strategy, self.pair, self._working)
            self._working = None
        remaining = self.remaining
        if remaining == 0:
            self.done = True
            self._emit("done", -1, "", Decimal(0), None, "position flat")
            return self.steps[-1]
        i = self.current_rung()
        if i is None:
            return None
        rung = self.rungs[i]
        qty = (abs(remaining) * Decimal(str(rung.max_fraction))).quantize(_STEP, rounding=ROUND_DOWN)
        qty = min(abs(remaining), max(qty, _STEP))
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
        decision = await self.gateway.submit(OrderRequest(intent, mark, unwind=True))
        if decision.denied:
            self._emit("denied", i, rung.style, qty, price, "; ".join(m for _, m in decision.reasons))
        else:
            self._working = decision.client_order_id
            self._emit(
                "child_order",
                i,
                rung.style,
                qty,
                price,
                f"rung {i} ({rung.style}) after {rung.after_seconds}s",
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


def ladders_for_stress(gateway: RiskGateway, reason: str = "severe stress") -> list[UnwindLadder]:
    """A ladder for every open position whose strategy (or the whole book) is under a STOP switch."""
    out = []
    global_stop = Gate.STOP in gateway.switches(GLOBAL).values()
    for (strategy, pair), h in sorted(gateway.book.holdings.items()):
        stopped = global_stop or Gate.STOP in gateway.switches(strategy_scope(strategy)).values()
        if h.qty and stopped and gateway.policies(strategy)[0].unwind_ladder:
            out.append(UnwindLadder(gateway, strategy, pair, reason=reason))
    return out
