"""Pre-trade risk rules: one small class per RiskPolicy limit behind one interface.

Why it exists: a risk check that grows inside one function becomes untestable and unexplainable.
Like Freqtrade's ``IProtection``, each rule here is a tiny class with a ``name`` and a ``check``
that returns *a reason* (a denial) or ``None``; the gateway runs them all and denies with every
reason at once. Limits are read from the :class:`RiskPolicySpec` objects in the context on every
call, so replacing a policy object changes the limits of the very next check.

Rules judge the *projected* book (the book as it would be if the order filled). Orders that
genuinely reduce the strategy's position skip the entry rules (exposure, concentration, VaR, cash,
fees) — an exit must never be blocked because the book is too risky — but not the rate governor
or the reduce-only rule. Kill switches that *trip gates* (losses, drawdown, cash floor, breaches,
health, clustering) are not here: see ``killswitches.py`` and ``health.py``.

What it must not do: mutate the book or talk to a venue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.risk.book import OrderRequest, RiskBook
from quantops_trading.risk.var import ReturnHistory, estimate

__all__ = [
    "CANCEL_RATIO_WINDOW_SECONDS",
    "CancelToFillRule",
    "CashFloorRule",
    "CheckContext",
    "ConcentrationRule",
    "FeeGuardRule",
    "GrossExposureRule",
    "OrderSizeRule",
    "OvertradeRule",
    "PairExposureRule",
    "ReduceOnlyRule",
    "RiskRule",
    "VarRule",
    "default_rules",
]

CANCEL_RATIO_WINDOW_SECONDS = 600.0
_ZERO = Decimal(0)


@dataclass(slots=True)
class CheckContext:
    """What a rule may look at: the book, the applicable policies, returns and the time."""

    book: RiskBook
    policies: tuple[RiskPolicySpec, ...]  # the strategy's policy (if any), then the global one
    returns: ReturnHistory
    now: float
    reduces: bool  # the order moves the strategy's own position toward zero, not past it
    venue: str = ""


class RiskRule:
    """Interface: ``check`` returns a human reason when the order must be denied, else ``None``."""

    name: ClassVar[str] = "rule"
    applies_to_reducing: ClassVar[bool] = False

    def check(self, req: OrderRequest, ctx: CheckContext) -> str | None:
        raise NotImplementedError

    def on_sent(self, req: OrderRequest, venue: str, now: float) -> None:
        """Hook: the order passed and is being sent (stateful rules such as throttles note it)."""
        del req, venue, now


class ReduceOnlyRule(RiskRule):
    name = "reduce_only"
    applies_to_reducing = True

    def check(self, req: OrderRequest, ctx: CheckContext) -> str | None:
        if req.intent.reduce_only and not ctx.reduces:
            pos = ctx.book.position(req.strategy, req.pair)
            return f"reduce-only {req.intent.side} {req.intent.quantity} does not reduce position {pos}"
        return None


class PairExposureRule(RiskRule):
    """51: the net notional of a pair across strategies may not exceed its hard limit."""

    name = "pair_exposure"

    def check(self, req: OrderRequest, ctx: CheckContext) -> str | None:
        before = ctx.book.pair_exposure(req.pair, _ZERO, req.price)
        after = ctx.book.pair_exposure(req.pair, req.signed_qty, req.price)
        if after <= before:
            return None
        for p in ctx.policies:
            limit = p.pair_exposure_overrides.get(req.pair, p.max_pair_exposure)
            if limit is not None and after > Decimal(str(limit)):
                return f"{req.pair} exposure {after:.2f} would exceed the hard limit {limit}"
        return None


class OrderSizeRule(RiskRule):
    """One order's size: at most ``maxOrderQuantity`` of its pair (base units) and
    ``maxOrderNotional`` (quote). Exits are never blocked (the unwind ladder slices them)."""

    name = "order_size"

    def check(self, req: OrderRequest, ctx: CheckContext) -> str | None:
        qty = req.intent.quantity
        for p in ctx.policies:
            cap = p.max_order_quantity.get(req.pair)
            if cap is not None and qty > Decimal(str(cap)):
                return f"{req.pair} order quantity {qty} exceeds maxOrderQuantity {cap}"
            if p.max_order_notional is not None and req.notional > Decimal(str(p.max_order_notional)):
                return f"order notional {req.notional:.2f} exceeds maxOrderNotional {p.max_order_notional}"
        return None


class GrossExposureRule(RiskRule):
    name = "gross_exposure"

    def check(self, req: OrderRequest, ctx: CheckContext) -> str | None:
        before = ctx.book.pair_exposure(req.pair, _ZERO, req.price)
        after = ctx.book.pair_exposure(req.pair, req.signed_qty, req.price)
        if after <= before:
            return None
        gross = ctx.book.gross_exposure() - before + after
        for p in ctx.policies:
            if p.max_gross_exposure is not None and gross > Decimal(str(p.max_gross_exposure)):
                return f"gross exposure {gross:.2f} would exceed {p.max_gross_exposure}"
        return None


class ConcentrationRule(RiskRule):
    """56: one pair's share of max(gross exposure, risk budget) may not exceed the cap.

    The denominator is never below the risk budget, so a small book (one pair, first order) is not
    "100 % concentrated"; once the book is larger than the budget the share of gross applies.
    """

    name = "concentration"

    def check(self, req: OrderRequest, ctx: CheckContext) -> str | None:
        before = ctx.book.pair_exposure(req.pair, _ZERO, req.price)
        after = ctx.book.pair_exposure(req.pair, req.signed_qty, req.price)
        if after <= before:
            return None
        gross = ctx.book.gross_exposure() - before + after
        for p in ctx.policies:
            base = max(gross, Decimal(str(p.risk_budget)))
            if base > 0 and after / base > Decimal(str(p.concentration_cap)):
                share = float(after / base)
                return f"{req.pair} would be {share:.1%} of the book, over the cap {p.concentration_cap:.1%}"
        return None


class VarRule(RiskRule):
    """55 pre-trade: VaR/ES of the strategy and of the portfolio after the order, if it adds risk."""

    name = "var"

    def check(self, req: OrderRequest, ctx: CheckContext) -> str | None:
        for p in ctx.policies:
            if p.var.var_limit is None and p.var.es_limit is None:
                continue
            ctx.returns.resize(p.var.window)
            delta = float(req.signed_qty * ctx.book.mark(req.pair, req.price))
            for scope in (req.strategy, None):
                book = ctx.book.exposures_float(scope)
                after_book = dict(book)
                after_book[req.pair] = after_book.get(req.pair, 0.0) + delta
                after = estimate(ctx.returns, after_book, p.var.confidence, p.var.method)
                if after is None:
                    continue
                breach = _breach(after.var, after.es, p)
                if breach is None:
                    continue
                before = estimate(ctx.returns, book, p.var.confidence, p.var.method)
                if before is not None and before.var >= after.var and before.es >= after.es:
                    continue  # the order does not add risk
                who = f"strategy {req.strategy}" if scope else "portfolio"
                return f"{who} {breach} after the order ({p.var.method}, c={p.var.confidence})"
        return None


def _breach(var: float, es: float, p: RiskPolicySpec) -> str | None:
    if p.var.var_limit is not None and var > p.var.var_limit:
        return f"VaR {var:.2f} > limit {p.var.var_limit}"
    if p.var.es_limit is not None and es > p.var.es_limit:
        return f"ES {es:.2f} > limit {p.var.es_limit}"
    return None


class CashFloorRule(RiskRule):
    """57 pre-trade: a buy may not take free cash below the policy's floor."""

    name = "cash_floor"

    def check(self, req: OrderRequest, ctx: CheckContext) -> str | None:
        cash = ctx.book.cash
        if cash is None or req.signed_qty <= 0:
            return None
        after = cash - req.notional
        for p in ctx.policies:
            if after < Decimal(str(p.cash_floor)):
                return f"free cash {after:.2f} after the order would be below the floor {p.cash_floor}"
        return None


class OvertradeRule(RiskRule):
    """59: order submissions and trades per minute, per strategy and globally."""

    name = "overtrade"
    applies_to_reducing = True

    def check(self, req: OrderRequest, ctx: CheckContext) -> str | None:
        book, now = ctx.book, ctx.now
        for key, p in ((req.strategy, ctx.policies[0]), ("*", ctx.policies[-1])):
            who = "globally" if key == "*" else f"for {key}"
            orders = book.count(book.orders[key], now)
            if orders >= p.max_orders_per_minute:
                return f"{orders} orders in the last minute {who} (max {p.max_orders_per_minute})"
            trades = book.count(book.trades[key], now)
            if trades >= p.max_trades_per_minute:
                return f"{trades} trades in the last minute {who} (max {p.max_trades_per_minute})"
        return None


class CancelToFillRule(RiskRule):
    """65: a strategy that cancels far more than it fills may not place new orders."""

    name = "cancel_to_fill"

    def check(self, req: OrderRequest, ctx: CheckContext) -> str | None:
        book = ctx.book
        window = CANCEL_RATIO_WINDOW_SECONDS
        cancels = book.count(book.cancels[req.strategy], ctx.now, window)
        fills = book.count(book.fills[req.strategy], ctx.now, window)
        ratio = cancels / max(fills, 1)
        for p in ctx.policies:
            if ratio > p.max_cancel_to_fill_ratio:
                return (
                    f"cancel-to-fill ratio {ratio:.1f} ({cancels}/{fills}) over {p.max_cancel_to_fill_ratio}"
                )
        return None


class FeeGuardRule(RiskRule):
    """66: the expected edge must beat fees + expected slippage + the policy's margin."""

    name = "fee_guard"

    def check(self, req: OrderRequest, ctx: CheckContext) -> str | None:
        edge = req.expected_edge_bps
        for p in ctx.policies:
            g = p.fee_guard
            fee = g.taker_fee_bps if req.is_taker else g.maker_fee_bps
            cost = fee + req.expected_slippage_bps + g.min_edge_over_cost_bps
            if edge is None:
                return f"no expected edge given; it must beat {cost:.1f} bps of fees+slippage+margin"
            if edge <= cost:
                return (
                    f"expected edge {edge:.1f} bps does not beat fee {fee:.1f} + slippage "
                    f"{req.expected_slippage_bps:.1f} + margin {g.min_edge_over_cost_bps:.1f} bps"
                )
        return None


def default_rules() -> Sequence[RiskRule]:
    """Every pre-trade rule, cheapest first."""
    return (
        ReduceOnlyRule(),
        OvertradeRule(),
        CancelToFillRule(),
        FeeGuardRule(),
        OrderSizeRule(),
        PairExposureRule(),
        GrossExposureRule(),
        ConcentrationRule(),
        CashFloorRule(),
        VarRule(),
    )
