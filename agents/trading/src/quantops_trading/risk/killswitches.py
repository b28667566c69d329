"""Automatic kill switches that move a scope's gate: breaches, losses, drawdown, cash, VaR.

Why it exists: some limits cannot be enforced by denying one order, because the market breaks them
(a price move pushes a pair over its hard limit, equity falls from its peak, cash drains). Those
conditions *trip a gate* on a scope (``global``, ``strategy/<id>``, ``pair/<symbol>``...) instead,
and lift it when the condition clears (or, for latched switches, when a human resets them).

Every evaluator here is pure: it looks at the book and the policy and returns
:class:`SwitchAction` values; the gateway applies them, so every trip and release is audited in
one place. Switches and their gates:

* ``pair_breach`` (51): STOP on ``pair/P`` while its exposure is above the hard limit;
* ``consecutive_losses`` (53): STOP on ``strategy/S`` for ``lossCooldownSeconds``;
* ``drawdown`` (54): STOP on ``strategy/S`` or ``global`` from the equity peak (latched);
* ``cash_floor`` (57): emergency STOP on ``global`` (latched);
* ``var`` (55 post-trade): PAUSE (reduce-only) on ``strategy/S`` or ``global`` while over limit.

What it must not do: send orders or write audit entries itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from quantops_api import Gate
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.risk.book import RiskBook
from quantops_trading.risk.var import ReturnHistory, estimate

__all__ = [
    "GLOBAL",
    "LATCHED",
    "ConsecutiveLosses",
    "GateView",
    "SwitchAction",
    "cash_floor_actions",
    "drawdown_actions",
    "pair_breach_actions",
    "pair_scope",
    "strategy_scope",
    "var_actions",
]

GLOBAL = "global"
LATCHED = frozenset({"drawdown", "cash_floor"})
"""Switches that only a human lifts (``RiskGateway.reset_kill_switch``)."""


def strategy_scope(strategy: str) -> str:
    return f"strategy/{strategy}"


def pair_scope(pair: str) -> str:
    return f"pair/{pair}"


class GateView(Protocol):
    """The agent's gates as the gateway reads them (runtime/gatestate.py's ``GateState``): the
    effective agent gate, a strategy's own gate, and a version that moves when either changes."""

    @property
    def version(self) -> int: ...
    def effective(self) -> tuple[Gate, str]: ...
    def strategy_gate(self, strategy: str) -> tuple[Gate, str]: ...


@dataclass(frozen=True, slots=True)
class SwitchAction:
    """Set (``gate``) or lift (``gate=None``) the named switch on a scope, with the reason."""

    scope: str
    switch: str
    gate: Gate | None
    reason: str


def pair_breach_actions(book: RiskBook, pair: str, policies: Sequence[RiskPolicySpec]) -> list[SwitchAction]:
    """51: trip STOP on the pair while its exposure is over the tightest hard limit, lift it after."""
    limits = [
        lim for p in policies if (lim := p.pair_exposure_overrides.get(pair, p.max_pair_exposure)) is not None
    ]
    scope = pair_scope(pair)
    if not limits:
        return [SwitchAction(scope, "pair_breach", None, "no hard limit applies")]
    limit = Decimal(str(min(limits)))
    exposure = book.pair_exposure(pair)
    if exposure > limit:
        why = f"{pair} exposure {exposure:.2f} above the hard limit {limit} after a price move"
        return [SwitchAction(scope, "pair_breach", Gate.STOP, why)]
    return [SwitchAction(scope, "pair_breach", None, f"{pair} exposure {exposure:.2f} back under {limit}")]


@dataclass
class ConsecutiveLosses:
    """53: N losing closes in a row → STOP the strategy; entries resume after the cool-down."""

    counts: dict[str, int] = field(default_factory=dict)
    until: dict[str, float] = field(default_factory=dict)

    def on_close(
        self, strategy: str, realised: Decimal, now: float, policy: RiskPolicySpec
    ) -> list[SwitchAction]:
        if realised >= 0:
            self.counts[strategy] = 0
            return []
        n = self.counts.get(strategy, 0) + 1
        self.counts[strategy] = n
        if n < policy.max_consecutive_losses:
            return []
        self.until[strategy] = now + policy.loss_cooldown_seconds
        why = (
            f"{n} consecutive losses (max {policy.max_consecutive_losses}); "
            f"cool-down {policy.loss_cooldown_seconds:.0f}s"
        )
        return [SwitchAction(strategy_scope(strategy), "consecutive_losses", Gate.STOP, why)]

    def tick(self, now: float) -> list[SwitchAction]:
        """Lift every switch whose cool-down has elapsed (and start counting afresh)."""
        if not self.until:
            return []
        done = [s for s, t in self.until.items() if now >= t]
        out = []
        for s in done:
            del self.until[s]
            self.counts[s] = 0
            out.append(SwitchAction(strategy_scope(s), "consecutive_losses", None, "loss cool-down elapsed"))
        return out


def drawdown_actions(
    book: RiskBook, strategy: str | None, policy: RiskPolicySpec, default_capital: Decimal
) -> list[SwitchAction]:
    """54: drawdown from the equity peak ≥ maxDrawdown trips a latched STOP (strategy or global)."""
    dd = book.drawdown(strategy, default_capital)
    if dd < policy.max_drawdown:
        return []
    scope = strategy_scope(strategy) if strategy else GLOBAL
    who = f"strategy {strategy}" if strategy else "portfolio"
    return [
        SwitchAction(scope, "drawdown", Gate.STOP, f"{who} drawdown {dd:.2%} ≥ {policy.max_drawdown:.2%}")
    ]


def cash_floor_actions(book: RiskBook, policy: RiskPolicySpec) -> list[SwitchAction]:
    """57: free cash below the floor is an emergency STOP of everything (latched)."""
    if book.cash is None or book.cash >= Decimal(str(policy.cash_floor)):
        return []
    why = f"free cash {book.cash:.2f} below the floor {policy.cash_floor}: emergency stop"
    return [SwitchAction(GLOBAL, "cash_floor", Gate.STOP, why)]


def var_actions(
    book: RiskBook, returns: ReturnHistory, strategy: str | None, policy: RiskPolicySpec
) -> list[SwitchAction]:
    """55 post-trade: reduce-only (PAUSE) while VaR or ES is over its limit; lifted when back."""
    v = policy.var
    if v.var_limit is None and v.es_limit is None:
        return []
    returns.resize(v.window)
    scope = strategy_scope(strategy) if strategy else GLOBAL
    est = estimate(returns, book.exposures_float(strategy), v.confidence, v.method)
    if est is None:
        return []
    over = (v.var_limit is not None and est.var > v.var_limit) or (
        v.es_limit is not None and est.es > v.es_limit
    )
    if over:
        why = f"VaR {est.var:.2f} / ES {est.es:.2f} over limits {v.var_limit} / {v.es_limit} ({v.method})"
        return [SwitchAction(scope, "var", Gate.PAUSE, why)]
    return [SwitchAction(scope, "var", None, f"VaR {est.var:.2f} / ES {est.es:.2f} within limits")]
