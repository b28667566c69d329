"""Stage decisions the risk engine owns: realised-loss demotion (63) and the governor simulation (64).

Why it exists: promotion and demotion change how much real money a strategy can lose, so both need
a risk verdict that is reproducible and audited.

* :func:`decide_demotion` is a pure decision: realised loss as a fraction of the strategy's capital
  over ``warm_loss_fraction`` demotes HOT → WARM, over ``cold_loss_fraction`` demotes WARM → COLD
  (one stage per decision, so the path is always HOT → WARM → COLD). :func:`demote` writes the
  ``StageDemoted`` audit entry; the pipeline/operator later writes the stage to Strategy status.
* :func:`simulate_promotion` runs before every COLD → WARM transition: it replays the candidate's
  backtest orders (timestamped intents with prices) through a fresh :class:`RiskGateway` — the
  same rules and kill switches as live — under the *target* policy, filling every admitted order
  at its price. Any denial or automatic gate trip is a breach, reported with the rule and the time;
  one breach refuses the promotion.

What it must not do: patch Kubernetes objects or touch a venue (the replay's venue is a null port).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from quantops_api import Gate, Stage
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.execution.types import Fill, OrderIntent, VenueOrder
from quantops_trading.risk.book import OrderRequest
from quantops_trading.risk.events import (
    AuditSink,
    KillSwitchTripped,
    PromotionSimulated,
    StageDemoted,
    audit_sink,
    ts_ns_of,
)
from quantops_trading.risk.gateway import RiskGateway
from quantops_trading.storage.eventlog import EventLog

__all__ = [
    "Breach",
    "DemotionDecision",
    "DemotionThresholds",
    "GovernorReport",
    "SimOrder",
    "decide_demotion",
    "demote",
    "simulate_promotion",
]


@dataclass(frozen=True, slots=True)
class DemotionThresholds:
    warm_loss_fraction: float = 0.05  # HOT → WARM
    cold_loss_fraction: float = 0.10  # WARM → COLD


@dataclass(frozen=True, slots=True)
class DemotionDecision:
    strategy: str
    old: Stage
    new: Stage
    realised_loss: Decimal
    threshold: Decimal
    reason: str

    def audit_event(self, ts: float) -> StageDemoted:
        return StageDemoted(
            ts_ns=ts_ns_of(ts),
            strategy_id=self.strategy,
            old=self.old.value,
            new=self.new.value,
            realised_loss=float(self.realised_loss),
            threshold=float(self.threshold),
            reason=self.reason,
        )


def decide_demotion(
    strategy: str,
    stage: Stage,
    realised_pnl: Decimal,
    capital: Decimal,
    limits: DemotionThresholds | None = None,
) -> DemotionDecision | None:
    """The demotion a realised P&L calls for, or ``None`` (COLD cannot be demoted)."""
    lim = limits or DemotionThresholds()
    loss = -realised_pnl
    step = {Stage.HOT: (Stage.WARM, lim.warm_loss_fraction), Stage.WARM: (Stage.COLD, lim.cold_loss_fraction)}
    if stage not in step or capital <= 0 or loss <= 0:
        return None
    new, fraction = step[stage]
    threshold = capital * Decimal(str(fraction))
    if loss < threshold:
        return None
    why = f"realised loss {loss:.2f} ≥ {fraction:.0%} of capital {capital} ({threshold:.2f}): {stage} → {new}"
    return DemotionDecision(strategy, stage, new, loss, threshold, why)


def demote(decision: DemotionDecision, audit: EventLog | AuditSink | None, ts: float) -> StageDemoted:
    """Write the decision's audit entry and return it."""
    event = decision.audit_event(ts)
    audit_sink(audit)(event)
    return event


@dataclass(frozen=True, slots=True)
class SimOrder:
    """One backtest order: when, what, and the price it traded at (also the mark at that time)."""

    ts: float
    request: OrderRequest


@dataclass(frozen=True, slots=True)
class Breach:
    ts: float
    intent_id: str
    rule: str
    reason: str


@dataclass(frozen=True)
class GovernorReport:
    strategy: str
    passed: bool
    orders: int
    breaches: tuple[Breach, ...] = ()

    def explain(self) -> str:
        if self.passed:
            return f"{self.strategy}: {self.orders} orders replayed, no breach; promotion may proceed"
        first = self.breaches[0]
        return (
            f"{self.strategy}: promotion refused, {len(self.breaches)} breach(es); first at t={first.ts} "
            f"on {first.intent_id}: [{first.rule}] {first.reason}"
        )


class _NullVenue:
    venue = "governor-sim"

    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder:
        raise RuntimeError("the governor simulation never sends orders")

    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        raise RuntimeError("the governor simulation never sends orders")


@dataclass
class _Clock:
    t: float = 0.0
    trips: list[tuple[float, KillSwitchTripped]] = field(default_factory=list)

    def __call__(self) -> float:
        return self.t


def simulate_promotion(
    strategy: str,
    orders: Sequence[SimOrder],
    policy: RiskPolicySpec,
    *,
    capital: Decimal | None = None,
    audit: EventLog | AuditSink | None = None,
) -> GovernorReport:
    """Replay ``orders`` through the live risk engine under ``policy``; any breach refuses promotion."""
    clock = _Clock()
    breaches: list[Breach] = []
    current = {"intent": "-"}

    def sink(event: BaseModel) -> None:
        if isinstance(event, KillSwitchTripped) and event.gate is not None and event.gate != Gate.GO.value:
            breaches.append(
                Breach(clock.t, current["intent"], event.switch, f"{event.scope}: {event.reason}")
            )

    gw = RiskGateway(_NullVenue(), policy, clock=clock, audit=sink, default_capital=capital)
    if capital is not None:
        gw.set_capital(strategy, capital)
    for n, o in enumerate(sorted(orders, key=lambda o: o.ts)):
        clock.t = o.ts
        req = o.request
        current["intent"] = req.intent.intent_id
        gw.on_price(req.pair, req.price)
        decision = gw.evaluate(req)
        if decision.denied:
            breaches.extend(Breach(o.ts, req.intent.intent_id, r, m) for r, m in decision.reasons)
            continue
        gw.book.orders[req.strategy].append(o.ts)
        gw.book.orders["*"].append(o.ts)
        i = req.intent
        fill = Fill(
            venue=_NullVenue.venue, symbol=i.symbol, trade_id=f"sim-{n}", venue_order_id=f"sim-{n}",
            side=i.side, price=req.price, quantity=i.quantity, fee=Decimal(0), fee_currency="-",
            is_maker=False, timestamp_ms=int(o.ts * 1000),
        )  # fmt: skip
        gw.on_fill(req.strategy, fill, regime=req.regime)
    report = GovernorReport(strategy, not breaches, len(orders), tuple(breaches))
    payload: list[dict[str, Any]] = [
        {"ts": b.ts, "intent_id": b.intent_id, "rule": b.rule, "reason": b.reason} for b in breaches
    ]
    audit_sink(audit)(
        PromotionSimulated(
            ts_ns=ts_ns_of(clock.t),
            strategy_id=strategy,
            passed=report.passed,
            orders=len(orders),
            breaches=payload,
        )
    )
    return report
