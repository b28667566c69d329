"""Domain model: typed ids, Decimal-only money, instrument limits, orders, positions, events."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from quantops_trading.model import (
    BarEvent,
    ClientOrderId,
    Fill,
    GateChanged,
    Instrument,
    InstrumentId,
    InstrumentKind,
    Lineage,
    Order,
    OrderDenied,
    Position,
    StrategyId,
    TraceId,
    parse_event,
    to_decimal,
)

BTC = InstrumentId("BTC/USDT@binance")


def _instrument() -> Instrument:
    return Instrument(
        id=BTC,
        tick_size=Decimal("0.01"),
        lot_step=Decimal("0.00001"),
        min_qty=Decimal("0.00001"),
        min_notional=Decimal("5"),
    )


def _order(**kw: object) -> Order:
    base: dict[str, object] = {
        "client_order_id": "qo-1",
        "strategy_id": "momentum-btc",
        "instrument_id": BTC,
        "side": "buy",
        "type": "limit",
        "quantity": "0.001",
        "price": "61000.01",
    }
    base.update(kw)
    return Order.model_validate(base)


def test_instrument_id_parts_and_validation() -> None:
    perp = InstrumentId.of("xrp", "usdt", "Binance-USDM", settle="usdt")
    assert perp == "XRP/USDT:USDT@binance-usdm"
    assert (perp.base, perp.quote, perp.settle, perp.venue, perp.symbol) == (
        "XRP",
        "USDT",
        "USDT",
        "binance-usdm",
        "XRP/USDT:USDT",
    )
    assert perp.is_derivative and not BTC.is_derivative
    for bad in ["BTCUSDT", "BTC/USDT", "btc/usdt@binance", "BTC/USDT@Binance", ""]:
        with pytest.raises(ValueError, match="invalid InstrumentId"):
            InstrumentId(bad)
    with pytest.raises(ValueError, match="StrategyId"):
        StrategyId("Has Spaces")
    assert len(TraceId.new()) == 32


def test_ids_are_validated_at_pydantic_boundaries() -> None:
    with pytest.raises(ValidationError, match="invalid ClientOrderId"):
        _order(client_order_id="x" * 37)
    order = _order()
    assert isinstance(order.client_order_id, ClientOrderId)
    assert isinstance(order.instrument_id, InstrumentId)


def test_floats_never_reach_an_order() -> None:
    with pytest.raises(ValidationError, match="floats never reach an order"):
        _order(quantity=0.001)
    with pytest.raises(ValidationError, match="floats never reach an order"):
        _order(price=61000.01)
    with pytest.raises(TypeError):
        to_decimal(1.5)
    with pytest.raises(ValueError, match="finite"):
        to_decimal("NaN")
    assert _order().price == Decimal("61000.01")


def test_order_shape_rules() -> None:
    with pytest.raises(ValidationError, match="needs a price"):
        _order(price=None)
    with pytest.raises(ValidationError, match="must not carry a price"):
        _order(type="market")
    with pytest.raises(ValidationError, match="quantity must be > 0"):
        _order(quantity="0")
    with pytest.raises(ValidationError, match="Extra inputs"):
        _order(leverage=3)
    assert _order(type="market", price=None, reduce_only=True).reduce_only


def test_instrument_rounding_and_limits() -> None:
    inst = _instrument()
    assert inst.round_price(Decimal("61000.019"), side_aware="buy") == Decimal("61000.01")
    assert inst.round_price(Decimal("61000.011"), side_aware="sell") == Decimal("61000.02")
    assert inst.round_qty(Decimal("0.0012345")) == Decimal("0.00123")
    assert inst.violations(Decimal("61000.01"), Decimal("0.001")) == []
    problems = inst.violations(Decimal("61000.005"), Decimal("0.0000015"))
    assert any("tick size" in p for p in problems)
    assert any("lot step" in p for p in problems)
    assert any("min notional" in p for p in problems)
    with pytest.raises(ValidationError, match="kind"):
        Instrument(id=BTC, kind=InstrumentKind.PERPETUAL, tick_size=Decimal(1), lot_step=Decimal(1))
    with pytest.raises(ValidationError, match="tick_size must be > 0"):
        Instrument(id=BTC, tick_size=Decimal(0), lot_step=Decimal(1))


def test_position_average_cost_and_flip() -> None:
    pos = Position(instrument_id=BTC, strategy_id=StrategyId("s1"))

    def fill(side: str, px: str, qty: str) -> Fill:
        return Fill.model_validate(
            {
                "client_order_id": "c1",
                "instrument_id": BTC,
                "side": side,
                "price": px,
                "quantity": qty,
                "fee": "0.1",
                "ts_ns": 1,
            }
        )

    pos = pos.apply_fill(fill("buy", "100", "1")).apply_fill(fill("buy", "110", "1"))
    assert (pos.quantity, pos.avg_price) == (Decimal(2), Decimal(105))
    pos = pos.apply_fill(fill("sell", "120", "3"))
    assert pos.quantity == Decimal(-1) and pos.avg_price == Decimal(120)
    assert pos.realized_pnl == Decimal(30) and pos.fees == Decimal("0.3")
    pos = pos.apply_fill(fill("buy", "100", "1"))
    assert pos.is_flat and pos.realized_pnl == Decimal(50)


def test_events_round_trip_through_json_by_kind() -> None:
    order = _order()
    lineage = Lineage(source="candles", venue="binance", stream="f.csv.gz", ingest_ts_ns=5)
    events = [
        OrderDenied(order=order, reason="max notional", rule="max_notional"),
        GateChanged(scope="strategy/s1", old="GO", new="STOP", actor="risk", reason="drawdown"),
        BarEvent(
            instrument_id=BTC,
            timeframe="1m",
            close_ts_ms=60_000,
            open="1",
            high="2",
            low="1",
            close="2",
            volume="0",
            lineage=lineage.with_transform("dedup", 1).as_dict(),
        ),
    ]
    for ev in events:
        back = parse_event(ev.model_dump_json())
        assert back == ev and type(back) is type(ev)
    assert '"61000.01"' in events[0].model_dump_json()  # Decimal serialised exactly, as a string
    with pytest.raises(ValidationError):
        parse_event('{"kind": "nope"}')
    with pytest.raises(ValidationError, match="frozen"):
        events[1].reason = "x"  # type: ignore[misc]
    assert events[2].lineage["transforms"] == "dedup@1"
