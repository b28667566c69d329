"""End-of-day postmortem (roadmap 100): HTML + Markdown + PNG charts with real content of a day."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from quantops_trading.model.events import GateChanged, OrderDenied, OrderFilled, OrderSubmitted
from quantops_trading.model.ids import ClientOrderId, InstrumentId, StrategyId
from quantops_trading.model.orders import Fill, Order, OrderSide, OrderType
from quantops_trading.observability import postmortem
from quantops_trading.observability.charts import decode_png
from quantops_trading.storage.eventlog import EventLog

DAY = dt.date(2024, 8, 8)
T0 = int(dt.datetime(2024, 8, 8, 9, tzinfo=dt.UTC).timestamp() * 1e9)
H = 3_600_000_000_000
BTC = InstrumentId("BTC/USDT@venue-sim")


def _order(coid: str, strat: str, side: OrderSide) -> Order:
    return Order(
        client_order_id=ClientOrderId(coid),
        strategy_id=StrategyId(strat),
        instrument_id=BTC,
        side=side,
        type=OrderType.MARKET,
        quantity=Decimal("1"),
    )


def _fill(coid: str, side: OrderSide, px: str, ts: int) -> OrderFilled:
    f = Fill(
        client_order_id=ClientOrderId(coid),
        instrument_id=BTC,
        side=side,
        price=Decimal(px),
        quantity=Decimal("1"),
        fee=Decimal("1"),
        ts_ns=ts,
    )
    return OrderFilled(fill=f, ts_ns=ts)


def synthetic_day(path: Path) -> None:
    with EventLog(path) as log:
        log.append(OrderSubmitted(order=_order("m-1", "mom", OrderSide.BUY), ts_ns=T0))
        log.append(_fill("m-1", OrderSide.BUY, "100", T0 + 1))
        log.append(OrderSubmitted(order=_order("r-1", "rev", OrderSide.SELL), ts_ns=T0 + H))
        log.append(_fill("r-1", OrderSide.SELL, "110", T0 + H + 1))
        log.append(
            OrderDenied(
                order=_order("m-2", "mom", OrderSide.BUY),
                reason="over cap",
                rule="concentration",
                ts_ns=T0 + 2 * H,
            )
        )
        log.append(OrderSubmitted(order=_order("m-3", "mom", OrderSide.SELL), ts_ns=T0 + 3 * H))
        log.append(_fill("m-3", OrderSide.SELL, "130", T0 + 3 * H + 1))
        log.append(
            GateChanged(
                scope="strategy/rev",
                old="GO",
                new="PAUSE",
                actor="killswitch",
                reason="losses",
                ts_ns=T0 + 4 * H,
            )
        )
        log.append(OrderSubmitted(order=_order("x-1", "mom", OrderSide.BUY), ts_ns=T0 + 30 * H))  # next day


AUDIT = [
    {
        "at": "2024-08-08T10:30:00+00:00",
        "event": "AgentRestartScheduled",
        "agent": "trader",
        "reason": "exited with 1",
    },
    {
        "at": "2024-08-08T11:00:00+00:00",
        "event": "GateChanged",
        "scope": "RiskPolicy/global",
        "old": "GO",
        "new": "STOP",
        "reason": "drill",
        "who": "cli",
    },
    {
        "at": "2024-08-08T12:00:00+00:00",
        "event": "StageChanged",
        "strategy": "mom",
        "old": "WARM",
        "new": "HOT",
        "reason": "evidence ok",
    },
    {"at": "2024-08-07T12:00:00+00:00", "event": "AgentKilled", "agent": "old-day", "reason": "yesterday"},
]


def test_postmortem_of_a_synthetic_day(tmp_path: Path) -> None:
    synthetic_day(tmp_path / "mom.sqlite")
    events = postmortem.read_event_logs([tmp_path / "mom.sqlite"])
    day = postmortem.collect(AUDIT, events, DAY)
    assert len(day.decisions_ok) == 6 and len(day.decisions_failed) == 1
    # mom: bought 100, sold 130, 2 fees → +28; rev: sold at 110, marked at last BTC fill 130, 1 fee → -21
    assert day.pnl_by_strategy == {"mom": 28.0, "rev": -21.0}
    assert [g["scope"] for g in day.gates] == ["RiskPolicy/global", "strategy/rev"]
    assert [i["agent"] for i in day.incidents] == ["trader"]
    paths = postmortem.write(day, tmp_path / "out")
    md, html = paths["md"].read_text(), paths["html"].read_text()
    for text in (md, html):
        assert "denied by concentration: over cap" in text
        assert "mom: +28.00" in text and "rev: -21.00" in text
        assert "RiskPolicy/global: GO → STOP (drill, by cli)" in text
        assert "mom: WARM → HOT (evidence ok)" in text
        assert "AgentRestartScheduled trader: exited with 1" in text
        assert "old-day" not in text and "x-1" not in text
    assert "decisions: 6 successful, 1 failed" in md
    for name in ("pnl", "drawdown", "decisions", "attribution"):
        assert paths[name].name in md and paths[name].name in html
        img = decode_png(paths[name].read_bytes())
        assert img.shape == (240, 640, 3) and (img != 255).any(axis=2).sum() > 1000
    attribution = decode_png(paths["attribution"].read_bytes())
    assert ((attribution == (44, 160, 44)).all(axis=2).any()) and (
        (attribution == (214, 39, 40)).all(axis=2).any()
    )
