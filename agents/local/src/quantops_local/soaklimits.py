"""The soak invariant "no order past a RiskPolicy limit", recomputed from the records alone.

Why it exists: the risk gateway refuses an order past a limit, but a gateway that mis-prices, forgets
a position across a restart or reads the wrong policy would refuse nothing and say nothing. This
check replays the trader's records: every live order that adds exposure (not reduce-only, not an
unwind-ladder child) is held against the limits of the policies that apply to its strategy — the
``global`` RiskPolicy and its ``riskPolicyRef``, as handed to the trader — using the positions its
booked fills (all strategies, net of base-asset fees) had built before the order:

* ``maxOrderQuantity`` of its pair and ``maxOrderNotional`` (quantity × price), exactly;
* ``maxPairExposure`` (or its per-pair override) on |net position + order| × price, when it grows;
* ``maxGrossExposure`` on the sum over pairs, each at its latest recorded price.

The gateway prices exposure at the book's mid, a record carries the order's limit price (a market
order: its fills' average): an excess within ``tolerance`` (1 %) is noted, not failed. Not
checked: the concentration cap and VaR (they need the book's marks at the instant), selector-matched
policies (the sample names its policy by ``riskPolicyRef``).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_local.soakrecords import (
    Check,
    Evidence,
    Rec,
    client_order_id_of,
    submitted_orders,
    symbol_of,
    unwind_children,
)

__all__ = ["risk_limits_respected"]

_ZERO = Decimal(0)


def _policies(ev: Evidence) -> dict[str, list[tuple[str, RiskPolicySpec]]]:
    """Strategy → the policies that apply to it (``global``, then its ``riskPolicyRef``), validated once."""
    specs = {n: RiskPolicySpec.model_validate(spec) for n, spec in ev.policies.items()}
    applying = {
        s: [(n, specs[n]) for n in ("global", ref or "") if n in specs] for s, ref in ev.policy_of.items()
    }
    applying[""] = [("global", specs["global"])] if "global" in specs else []  # a strategy with no spec
    return applying


def _fill_prices(ev: Evidence) -> dict[str, Decimal]:
    """Client order id → the average price of its booked fills (a market order's price)."""
    qty: dict[str, Decimal] = defaultdict(Decimal)
    cost: dict[str, Decimal] = defaultdict(Decimal)
    for r in ev.trader_records():
        if r.kind == "order_filled":
            f = r.data.get("fill") or {}
            q = Decimal(str(f.get("quantity", 0)))
            qty[str(f.get("client_order_id"))] += q
            cost[str(f.get("client_order_id"))] += q * Decimal(str(f.get("price", 0)))
    return {c: cost[c] / q for c, q in qty.items() if q > 0}


def _excess(value: Decimal, limit: float | None, tolerance: Decimal) -> str | None:
    """``over`` past the tolerance, ``near`` within it, None when within the limit."""
    if limit is None or value <= Decimal(str(limit)):
        return None
    return "over" if value > Decimal(str(limit)) * (1 + tolerance) else "near"


def risk_limits_respected(ev: Evidence, tolerance: Decimal = Decimal("0.01")) -> Check:
    unwind = unwind_children(ev)
    fill_px = _fill_prices(ev)
    policies = _policies(ev)
    events: list[tuple[float, int, str, Rec]] = [
        (r.ts, 0, s, r) for s, rs in ev.strategy_logs.items() for r in rs if r.kind == "order_filled"
    ] + [(r.ts, 1, s, r) for s, r in submitted_orders(ev)]
    net: dict[str, Decimal] = defaultdict(Decimal)
    last_px: dict[str, Decimal] = {}
    bad: list[dict[str, Any]] = []
    notes: list[str] = []
    checked = 0
    for _, phase, strategy, r in sorted(events, key=lambda e: (e[0], e[1])):
        if phase == 0:
            f = r.data.get("fill") or {}
            pair = symbol_of(str(f.get("instrument_id", "")))
            q = Decimal(str(f.get("quantity", 0)))
            fee = (
                Decimal(str(f.get("fee") or 0)) if str(f.get("fee_currency")) == pair.split("/")[0] else _ZERO
            )
            net[pair] += (q if str(f.get("side")).lower() == "buy" else -q) - fee
            last_px[pair] = Decimal(str(f.get("price", 0)))
            continue
        order, cid = r.data.get("order", {}), client_order_id_of(r)
        if order.get("reduce_only") or cid in unwind:
            continue
        pair = symbol_of(str(order.get("instrument_id", "")))
        price = Decimal(str(order["price"])) if order.get("price") not in (None, "") else fill_px.get(cid)
        if price is None:
            notes.append(f"{r.ref}: a market order with no booked fill: no price to check it at")
            continue
        checked += 1
        qty = Decimal(str(order.get("quantity", 0)))
        signed = qty if str(order.get("side")).lower() == "buy" else -qty
        last_px[pair] = price
        before, after = abs(net[pair]) * price, abs(net[pair] + signed) * price
        gross = sum((abs(n) * last_px.get(p, _ZERO) for p, n in net.items() if p != pair), _ZERO) + after
        for name, p in policies.get(strategy, policies[""]):
            found: list[tuple[str, str, Decimal, float | None]] = []
            cap = p.max_order_quantity.get(pair)
            if cap is not None and qty > Decimal(str(cap)):
                found.append(("over", "maxOrderQuantity", qty, cap))
            limits: list[tuple[str, Decimal, float | None]] = [
                ("maxOrderNotional", qty * price, p.max_order_notional)
            ]
            if after > before:
                pair_limit = p.pair_exposure_overrides.get(pair, p.max_pair_exposure)
                limits += [
                    ("maxPairExposure", after, pair_limit),
                    ("maxGrossExposure", gross, p.max_gross_exposure),
                ]
            for limit_name, value, limit in limits:
                verdict = _excess(value, limit, tolerance)
                if verdict:
                    found.append((verdict, limit_name, value, limit))
            for verdict, limit_name, value, limit in found:
                row = {"record": r.ref, "clientOrderId": cid, "strategy": strategy, "policy": name,
                       "limit": limit_name, "value": f"{value.normalize():f}", "max": limit}  # fmt: skip
                if verdict == "over":
                    bad.append(row)
                else:
                    notes.append(
                        f"{r.ref}: {limit_name} {value:.2f} within {tolerance:%} of {limit} (priced apart)"
                    )
    summary = (
        f"{checked} exposure-adding live orders held against their policies' limits, {len(bad)} past one"
    )
    return Check("risk_limits_respected", not bad, summary, bad, notes)
