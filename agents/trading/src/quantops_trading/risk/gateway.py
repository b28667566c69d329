"""The one risk gateway between strategies and execution (roadmap 51–66).

Why it exists: if any order can reach a venue by a path that skips risk, every limit is a
suggestion. Strategies hand :class:`OrderRequest` values to :class:`RiskGateway`; it is the only
component holding the :class:`ExecutionClient`. For each request it

1. computes the **effective gate** of the request's scopes (``global``, ``strategy/S``,
   ``pair/P``, ``venue/V``, ``regime/R``): the most restrictive of the policies' gates, manual
   gates, every automatic kill switch and (optionally) the agent's :class:`GateState`;
2. applies the gate — GO trades; CHECK validates and records a would-be order, nothing reaches a
   venue; PAUSE lets only reduce-only orders that really reduce through; STOP only unwind-ladder
   orders (cancels are always allowed);
3. runs every rule (``rules.py``) and denies with *all* reasons in one ``OrderDenied`` event;
4. just before sending, re-reads the gate and the ``send_guard`` (is this process the one writer?)
   with no ``await`` before the client call, so a flip acknowledged in flight is honoured.

Fills, prices and cash feed the book and the kill switches; every automatic gate change is audited
(``KillSwitchTripped`` + ``GateChanged``); :meth:`RiskGateway.update_policy` replaces limits live.
What it must not do: build orders for strategies or retry venue calls (that is ``execution``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from quantops_api import Gate
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.execution.client_ids import client_order_id
from quantops_trading.execution.types import ExecutionClient, Fill, OrderIntent, Side, VenueOrder
from quantops_trading.model.events import GateChanged, OrderDenied
from quantops_trading.risk import killswitches as ks
from quantops_trading.risk.book import OpenOrder, OrderRequest, RiskBook
from quantops_trading.risk.events import (
    AuditSink,
    KillSwitchTripped,
    WouldBeOrder,
    audit_sink,
    to_model_order,
    ts_ns_of,
)
from quantops_trading.risk.health import AdverseClusterDetector, LossRecord, throttle_change
from quantops_trading.risk.rules import CheckContext, RiskRule, default_rules
from quantops_trading.risk.var import ReturnHistory
from quantops_trading.storage.eventlog import EventLog

__all__ = ["Decision", "OrderPort", "RiskGateway"]


@runtime_checkable
class OrderPort(Protocol):
    """The part of :class:`ExecutionClient` the gateway uses; every ExecutionClient is one."""

    venue: str

    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder: ...
    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder: ...


Action = Literal["send", "recorded", "denied", "sent"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The gateway's verdict: ``sent``/``recorded`` (CHECK)/``denied`` with every (rule, reason)."""

    action: Action
    gate: Gate
    reasons: tuple[tuple[str, str], ...] = ()
    venue_order: VenueOrder | None = None
    client_order_id: str | None = None

    @property
    def denied(self) -> bool:
        return self.action == "denied"


async def _yield() -> None:
    await asyncio.sleep(0)


class RiskGateway:
    """Every order passes here; see the module docstring for the order of checks."""

    def __init__(
        self,
        client: ExecutionClient | OrderPort,
        policy: RiskPolicySpec,
        *,
        clock: Callable[[], float] = time.time,
        audit: EventLog | AuditSink | None = None,
        rules: Sequence[RiskRule] | None = None,
        gate_state: ks.GateView | None = None,
        default_capital: Decimal | None = None,
        pre_send: Callable[[], Awaitable[None]] = _yield,
        cluster: AdverseClusterDetector | None = None,
        send_guard: Callable[[], str | None] | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.audit: AuditSink = audit_sink(audit)
        self.rules: tuple[RiskRule, ...] = tuple(rules if rules is not None else default_rules())
        self.cluster, self.gate_state = cluster, gate_state
        if cluster is not None:
            self.rules = (*self.rules, cluster)
        self.book = RiskBook()
        self.paper_books: dict[str, RiskBook] = {}  # WARM strategies: judged under CHECK on these
        self.returns = ReturnHistory(policy.var.window)
        self.losses = ks.ConsecutiveLosses()
        self.denials: list[OrderDenied] = []
        self.would_be: list[OrderRequest] = []
        self._global = policy
        self._by_strategy: dict[str, RiskPolicySpec] = {}
        self._switches: dict[str, dict[str, Gate]] = {}
        self._default_capital = default_capital
        self._pre_send, self.send_guard = pre_send, send_guard  # guard: why we may not send, or None
        self.gate_epoch = 0  # bumped on every acknowledged gate change

    # -- policies and gates --------------------------------------------------------------------
    def update_policy(self, spec: RiskPolicySpec, strategy: str | None = None) -> None:
        """Replace the global policy (``strategy=None``) or one strategy's; applies to the next check."""
        scopes = [ks.GLOBAL] if strategy is None else [ks.strategy_scope(strategy)]
        before = {s: self.scope_gate(s) for s in scopes}
        if strategy is None:
            self._global = spec
        else:
            self._by_strategy[strategy] = spec
        self._audit_gate_changes(before, actor="riskpolicy", reason="policy object replaced")

    def policies(self, strategy: str) -> tuple[RiskPolicySpec, ...]:
        own = self._by_strategy.get(strategy)
        return (own, self._global) if own is not None else (self._global,)

    @property
    def global_policy(self) -> RiskPolicySpec:
        return self._global

    def default_capital(self) -> Decimal:
        if self._default_capital is not None:
            return self._default_capital
        return Decimal(str(self._global.risk_budget))

    def scope_gate(self, scope: str) -> Gate:
        """The gate of one scope alone: its policy gate, manual gate and kill switches."""
        gates: list[Gate] = list(self._switches.get(scope, {}).values())
        if scope == ks.GLOBAL:
            gates.append(self._global.gate)
            if self.gate_state is not None:
                gates.append(self.gate_state.effective()[0])
        elif scope.startswith("strategy/"):
            own = self._by_strategy.get(scope.removeprefix("strategy/"))
            if own is not None:
                gates.append(own.gate)
            if self.gate_state is not None:  # Strategy/<name> and its own RiskPolicies' gates
                gates.append(self.gate_state.strategy_gate(scope.removeprefix("strategy/"))[0])
        return Gate.most_restrictive(*gates)

    def scopes_of(self, req: OrderRequest) -> tuple[str, ...]:
        base = (
            ks.GLOBAL,
            ks.strategy_scope(req.strategy),
            ks.pair_scope(req.pair),
            f"venue/{self.client.venue}",
        )
        return (*base, f"regime/{req.regime}") if req.regime else base

    def gate_for(self, req: OrderRequest) -> Gate:
        return Gate.most_restrictive(*(self.scope_gate(s) for s in self.scopes_of(req)))

    def set_gate(self, scope: str, gate: Gate, *, actor: str, reason: str) -> None:
        """A manual gate on a scope (``quantops gate``, a kubectl patch seen by the agent)."""
        self._set_switch(scope, "manual", None if gate is Gate.GO else gate, actor=actor, reason=reason)

    def apply(self, actions: Iterable[ks.SwitchAction], *, actor: str = "risk-engine") -> None:
        """Apply kill-switch actions; each real change is audited."""
        for a in actions:
            self._set_switch(a.scope, a.switch, a.gate, actor=actor, reason=a.reason)

    def reset_kill_switch(self, scope: str, switch: str, *, actor: str, reason: str) -> None:
        """Lift a (latched) switch by hand; audited like any other change."""
        self._set_switch(scope, switch, None, actor=actor, reason=reason)

    def switches(self, scope: str) -> dict[str, Gate]:
        return dict(self._switches.get(scope, {}))

    def switch_scopes(self) -> list[str]:  # every scope with a kill switch set now
        return sorted(s for s, sw in self._switches.items() if sw)

    def _set_switch(self, scope: str, switch: str, gate: Gate | None, *, actor: str, reason: str) -> None:
        current = self._switches.get(scope, {})
        if current.get(switch) == gate:
            return
        before = {scope: self.scope_gate(scope)}
        if gate is None:
            current.pop(switch, None)
        else:
            self._switches.setdefault(scope, {})[switch] = gate
        ts = ts_ns_of(self.clock())
        self.audit(KillSwitchTripped(ts_ns=ts, scope=scope, switch=switch, gate=gate, reason=reason))
        self._audit_gate_changes(before, actor=f"{actor}/{switch}", reason=reason)

    def _audit_gate_changes(self, before: dict[str, Gate], *, actor: str, reason: str) -> None:
        for scope, old in before.items():
            new = self.scope_gate(scope)
            if new != old:
                self.gate_epoch += 1
                ts = ts_ns_of(self.clock())
                self._emit(
                    GateChanged(
                        ts_ns=ts, scope=scope, old=old.value, new=new.value, actor=actor, reason=reason
                    )
                )

    def _emit(self, event: BaseModel) -> None:
        self.audit(event)

    # -- pre-trade -------------------------------------------------------------------------------
    def reduces(self, req: OrderRequest, book: RiskBook | None = None) -> bool:
        pos = (book if book is not None else self.book).position(req.strategy, req.pair)
        if pos == 0:
            return False
        opposite = (pos > 0) != (req.intent.side is Side.BUY)
        return opposite and req.intent.quantity <= abs(pos)

    def _gate_reason(self, gate: Gate, req: OrderRequest, reduces: bool) -> str | None:
        if gate is Gate.STOP and not (req.unwind and reduces):
            return "gate STOP: nothing but cancels and the unwind ladder"
        if gate is Gate.PAUSE and not ((req.intent.reduce_only or req.unwind) and reduces):
            return "gate PAUSE: only reduce-only orders that reduce a position"
        return None

    def evaluate(self, req: OrderRequest) -> Decision:
        """The full pre-trade check; denials are audited. Does not send or count anything."""
        now = self.clock()
        self.apply(self.losses.tick(now))
        gate = self.gate_for(req)
        book = self.paper_books.get(req.strategy, self.book) if gate is Gate.CHECK else self.book
        paper = book is not self.book  # a paper order adds no live loss: the cluster throttle skips it
        reduces = self.reduces(req, book)
        reasons: list[tuple[str, str]] = []
        why = self._gate_reason(gate, req, reduces)
        if why is not None:
            reasons.append(("gate", why))
        if not req.unwind:
            ctx = CheckContext(
                book, self.policies(req.strategy), self.returns, now, reduces, self.client.venue
            )
            for rule in self.rules:
                if (reduces and not rule.applies_to_reducing) or (paper and rule is self.cluster):
                    continue
                r = rule.check(req, ctx)
                if r is not None:
                    reasons.append((rule.name, r))
        if reasons:
            self._deny(req, tuple(reasons), now)
            return Decision("denied", gate, tuple(reasons))
        return Decision("recorded" if gate is Gate.CHECK else "send", gate)

    def _deny(self, req: OrderRequest, reasons: tuple[tuple[str, str], ...], now: float) -> None:
        event = OrderDenied(
            ts_ns=ts_ns_of(now),
            order=to_model_order(req, self.client.venue),
            rule=",".join(r for r, _ in reasons),
            reason="; ".join(f"[{r}] {m}" for r, m in reasons),
        )
        self.denials.append(event)
        self._emit(event)

    def _record(self, req: OrderRequest, gate: Gate) -> Decision:
        self.would_be.append(req)
        i = req.intent
        self._emit(
            WouldBeOrder(
                ts_ns=ts_ns_of(self.clock()),
                strategy_id=i.strategy_id,
                intent_id=i.intent_id,
                symbol=i.symbol,
                side=i.side.value,
                quantity=str(i.quantity),
                price=None if i.price is None else str(i.price),
                reference_price=str(req.reference_price),
            )
        )
        return Decision("recorded", gate)

    # -- sending ---------------------------------------------------------------------------------
    async def submit(self, req: OrderRequest, attempt: int = 0) -> Decision:
        """Check, then send (GO/PAUSE/STOP-unwind) or record (CHECK). The gate is re-read at send time."""
        decision = self.evaluate(req)
        if decision.action == "denied":
            return decision
        if decision.action == "recorded":
            return self._record(req, decision.gate)
        coid = client_order_id(req.strategy, req.intent.intent_id, attempt)
        self.book.note_order(OpenOrder(coid, req.strategy, req.pair, self.clock(), req.intent.reduce_only))
        await self._pre_send()
        # No await between this re-check and the client call: a flip acknowledged before it wins.
        gate = self.gate_for(req)
        why = self._gate_reason(gate, req, self.reduces(req))
        blocked = self.send_guard() if self.send_guard is not None else None  # not the writer
        if why is not None or gate is Gate.CHECK or blocked is not None:
            self.book.open_orders.pop(coid, None)
            if why is None and gate is Gate.CHECK:
                return self._record(req, gate)
            reasons = (("gate", f"flipped before send: {why}"),) if why else (("writer", str(blocked)),)
            self._deny(req, reasons, self.clock())
            return Decision("denied", gate, reasons)
        for rule in self.rules:
            rule.on_sent(req, self.client.venue, self.clock())
        venue_order = await self.client.create_order(req.intent, coid)
        return Decision("sent", gate, venue_order=venue_order, client_order_id=coid)

    async def cancel(self, strategy: str, symbol: str, client_order_id: str) -> VenueOrder:
        """Cancels are allowed under every gate; they count toward the cancel-to-fill ratio."""
        self.book.note_cancel(strategy, self.clock(), client_order_id)
        return await self.client.cancel_order(symbol, client_order_id=client_order_id)

    def stale_orders(self) -> list[OpenOrder]:
        """65: the working orders older than their strategy's ``staleOrderTtlSeconds``; the caller
        cancels each through its own books (a cancel is allowed under every gate)."""
        now = self.clock()
        return [
            o
            for o in list(self.book.open_orders.values())
            if now - o.sent_at >= min(p.stale_order_ttl_seconds for p in self.policies(o.strategy))
        ]

    def order_closed(self, client_order_id: str) -> None:
        """The venue reports the order done (filled/expired): it is no longer working."""
        self.book.open_orders.pop(client_order_id, None)

    # -- post-trade ------------------------------------------------------------------------------
    def on_fill(self, strategy: str, fill: Fill, regime: str | None = None) -> Decimal:
        """Book a fill, then run the post-trade kill switches; returns the fill's realised P&L."""
        now = self.clock()
        realised, closed = self.book.note_fill(
            strategy, fill.symbol, fill.side, fill.quantity, fill.price, fill.fee, now, fill.fee_currency
        )
        policy = self.policies(strategy)[0]
        if closed:
            self.apply(self.losses.on_close(strategy, realised, now, policy))
            if self.cluster is not None and realised < 0:
                rec = LossRecord(now, strategy, fill.symbol, self.client.venue, regime, realised)
                before = set(self.cluster.throttled)
                self.apply(self.cluster.on_loss(rec), actor="adverse-cluster")
                self._audit_throttle(before, f"losing close of {strategy} on {fill.symbol} ({realised:.4f})")
        self._post_trade(strategy, fill.symbol)
        return realised

    def cluster_tick(self) -> None:
        """62: age the loss clusters out of their window (lifts throttles and PAUSEs)."""
        if self.cluster is None:
            return
        before = set(self.cluster.throttled)
        self.apply(self.cluster.tick(self.clock()), actor="adverse-cluster")
        self._audit_throttle(before, "losses aged out of the clustering window")

    def _audit_throttle(self, before: set[tuple[str, str]], reason: str) -> None:
        assert self.cluster is not None
        event = throttle_change(before, self.cluster.throttled, reason, ts_ns_of(self.clock()))
        if event is not None:
            self.audit(event)

    def on_price(self, pair: str, price: Decimal) -> None:
        """A new mark: returns history, pair-breach stop (51) and drawdown switches (54)."""
        self.book.marks[pair] = price
        self.returns.add_price(pair, float(price))
        self.apply(ks.pair_breach_actions(self.book, pair, self._pair_policies()))
        for s in {s for (s, p), h in self.book.holdings.items() if p == pair and h.qty}:
            self.apply(ks.drawdown_actions(self.book, s, self.policies(s)[0], self.default_capital()))
        self.apply(ks.drawdown_actions(self.book, None, self._global, self.default_capital()))

    def update_cash(self, free_cash: Decimal) -> None:
        """57: free cash from the treasury; below the floor is an emergency STOP."""
        self.book.cash = free_cash
        self.apply(ks.cash_floor_actions(self.book, self._global))

    def set_capital(self, strategy: str, amount: Decimal) -> None:
        self.book.capital[strategy] = amount

    def _pair_policies(self) -> list[RiskPolicySpec]:
        return [self._global, *self._by_strategy.values()]

    def _post_trade(self, strategy: str, pair: str) -> None:
        self.apply(ks.pair_breach_actions(self.book, pair, self._pair_policies()))
        self.apply(
            ks.drawdown_actions(self.book, strategy, self.policies(strategy)[0], self.default_capital())
        )
        self.apply(ks.drawdown_actions(self.book, None, self._global, self.default_capital()))
        self.apply(ks.var_actions(self.book, self.returns, strategy, self.policies(strategy)[0]))
        self.apply(ks.var_actions(self.book, self.returns, None, self._global))
        self.apply(ks.cash_floor_actions(self.book, self._global))
