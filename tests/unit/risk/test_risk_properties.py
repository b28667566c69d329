"""Hypothesis properties: no order violating the effective gate or a limit ever reaches execution."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from risk_support import fill, gateway, req

from quantops_api import Gate
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.execution.types import OrderIntent, Side

PAIRS = ("BTC/USDT", "ETH/USDT")
STRATS = ("alpha", "beta")

policies = st.builds(
    lambda pair, gross, conc, budget, orders, trades: RiskPolicySpec(
        max_pair_exposure=pair, max_gross_exposure=max(gross, pair), concentration_cap=conc,
        risk_budget=budget, max_orders_per_minute=orders, max_trades_per_minute=trades,
        max_consecutive_losses=1000, max_drawdown=0.99, max_cancel_to_fill_ratio=1e6,
    ),
    st.floats(100, 2000), st.floats(100, 5000), st.floats(0.2, 1.0), st.floats(500, 5000),
    st.integers(1, 20), st.integers(1, 20),
)  # fmt: skip

step = st.tuples(
    st.sampled_from(["order", "order", "order", "price", "gate", "tick"]),
    st.sampled_from(STRATS),
    st.sampled_from(PAIRS),
    st.sampled_from(["buy", "sell"]),
    st.decimals("0.1", "8", places=1),
    st.decimals("50", "150", places=0),
    st.booleans(),
    st.sampled_from(list(Gate)),
    st.sampled_from(["global", "strategy/alpha", "pair/BTC/USDT"]),
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(policy=policies, steps=st.lists(step, min_size=1, max_size=40))
async def test_no_violating_order_reaches_execution(policy: RiskPolicySpec, steps: list[tuple]) -> None:
    gw, client, clock = gateway(policy)
    gates: dict[str, Gate] = {}
    positions: dict[tuple[str, str], Decimal] = {}
    marks: dict[str, Decimal] = {}

    def check_sent(intent: OrderIntent, price: Decimal) -> None:
        """An independent model of the rules, run at the moment an order reaches the venue."""
        key = (intent.strategy_id, intent.symbol)
        pos = positions.get(key, Decimal(0))
        signed = intent.quantity if intent.side is Side.BUY else -intent.quantity
        reduces = pos != 0 and (pos > 0) != (signed > 0) and intent.quantity <= abs(pos)
        gate = Gate.most_restrictive(
            gates.get("global"),
            gates.get(f"strategy/{intent.strategy_id}"),
            gates.get(f"pair/{intent.symbol}"),
        )
        assert gate is not Gate.STOP and gate is not Gate.CHECK
        if gate is Gate.PAUSE:
            assert intent.reduce_only and reduces
        if not reduces:
            net = {p: sum((q for (s, pp), q in positions.items() if pp == p), Decimal(0)) for p in PAIRS}
            mark = marks.get(intent.symbol, price)
            after = abs(net[intent.symbol] + signed) * mark
            if after > abs(net[intent.symbol]) * mark:
                assert after <= Decimal(str(policy.max_pair_exposure))
                gross = (
                    sum(abs(net[p]) * marks.get(p, Decimal(0)) for p in PAIRS if p != intent.symbol) + after
                )
                assert gross <= Decimal(str(policy.max_gross_exposure))

    for kind, strat, pair, side, qty, px, reduce_only, gate, scope in steps:
        if kind == "price":
            marks[pair] = px
            gw.on_price(pair, px)
        elif kind == "gate":
            gw.set_gate(scope, gate, actor="prop", reason="random flip")
            gates[scope] = gate
        elif kind == "tick":
            clock.advance(20)
        else:
            price = marks.get(pair, px)
            r = req(side, qty, strategy=strat, pair=pair, price=price, reduce_only=reduce_only)
            sent_before = len(client.created)
            check_pos = dict(positions)
            d = await gw.submit(r)
            if len(client.created) > sent_before:
                positions_snapshot = positions
                positions = check_pos
                check_sent(client.created[-1][0], price)
                positions = positions_snapshot
                assert d.action == "sent"
                gw.on_fill(strat, fill(side, qty, price, pair=pair))
                key = (strat, pair)
                positions[key] = positions.get(key, Decimal(0)) + (qty if side == "buy" else -qty)
                marks.setdefault(pair, price)
            else:
                assert d.action in ("denied", "recorded")
                if d.action == "denied":
                    assert gw.denials[-1].order.quantity == qty
    orders_by_minute = len(client.created)
    assert orders_by_minute <= policy.max_orders_per_minute * (1 + sum(1 for s in steps if s[0] == "tick"))


@SETTINGS
@given(
    orders=st.lists(
        st.tuples(st.sampled_from(["buy", "sell"]), st.decimals("0.1", "5", places=1), st.booleans()),
        max_size=30,
    ),
    start=st.decimals("1", "5", places=1),
)
async def test_pause_passes_only_reduce_only_orders(
    orders: list[tuple[str, Decimal, bool]], start: Decimal
) -> None:
    gw, client, _ = gateway()
    gw.on_fill("alpha", fill("buy", start, "100"))
    gw.set_gate("global", Gate.PAUSE, actor="prop", reason="pause")
    pos = start
    for side, qty, reduce_only in orders:
        d = await gw.submit(req(side, qty, reduce_only=reduce_only))
        if d.action == "sent":
            intent = client.created[-1][0]
            assert intent.reduce_only and intent.side is Side.SELL and intent.quantity <= pos
            gw.on_fill("alpha", fill(side, qty, "100"))
            pos -= qty
        else:
            assert d.denied
            assert not reduce_only or side == "buy" or qty > pos


@SETTINGS
@given(
    orders=st.lists(
        st.tuples(
            st.sampled_from(["buy", "sell"]), st.decimals("0.1", "5", places=1), st.booleans(), st.booleans()
        ),
        max_size=30,
    )
)
async def test_stop_passes_nothing_but_cancels_and_unwind(
    orders: list[tuple[str, Decimal, bool, bool]],
) -> None:
    gw, client, _ = gateway()
    gw.on_fill("alpha", fill("buy", "5", "100"))
    gw.set_gate("strategy/alpha", Gate.STOP, actor="prop", reason="stop")
    for i, (side, qty, reduce_only, cancel) in enumerate(orders):
        if cancel:
            await gw.cancel("alpha", "BTC/USDT", f"c{i}")
            continue
        before = len(client.created)
        await gw.submit(req(side, qty, reduce_only=reduce_only))
        assert len(client.created) == before
    assert len(client.cancelled) == sum(1 for o in orders if o[3])
