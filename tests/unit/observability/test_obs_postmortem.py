"""End-of-day postmortem (roadmap 100): HTML + Markdown + PNG charts with real content of a day.

The PNGs are decoded with Pillow (independent of the matplotlib that wrote them) and must be real
images with drawn content: not blank, the right size, green and red bars where gains and losses are.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from quantops_trading.model.events import GateChanged, OrderDenied, OrderFilled, OrderSubmitted
from quantops_trading.model.ids import ClientOrderId, InstrumentId, StrategyId
from quantops_trading.model.orders import Fill, Order, OrderSide, OrderType
from quantops_trading.observability import postmortem
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


def decode_png(data: bytes) -> npt.NDArray[np.uint8]:
    """A real PNG (Pillow verifies signature, chunks and CRCs) → (h, w, 3) RGB array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    Image.open(io.BytesIO(data)).verify()
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return np.asarray(img.convert("RGB"))


def drawn(img: npt.NDArray[np.uint8]) -> int:
    """Pixels that are not the white background."""
    return int((img != 255).any(axis=2).sum())


def has_colour(img: npt.NDArray[np.uint8], rgb: tuple[int, int, int]) -> bool:
    return bool((np.abs(img.astype(int) - rgb) <= 2).all(axis=2).sum() > 50)


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
    for name in ("pnl", "drawdown", "decisions", "gates", "attribution"):
        assert paths[name].name in md and paths[name].name in html
        img = decode_png(paths[name].read_bytes())
        assert img.shape == (256, 640, 3) and drawn(img) > 3000
    attribution = decode_png(paths["attribution"].read_bytes())
    assert has_colour(attribution, (44, 160, 44)) and has_colour(attribution, (214, 39, 40))
    decisions = decode_png(paths["decisions"].read_bytes())
    assert has_colour(decisions, (44, 160, 44)) and has_colour(decisions, (214, 39, 40))


def test_empty_day_still_renders_every_chart(tmp_path: Path) -> None:
    paths = postmortem.write(postmortem.collect([], [], DAY), tmp_path)
    for name in ("pnl", "drawdown", "decisions", "gates", "attribution"):
        img = decode_png(paths[name].read_bytes())
        assert drawn(img) > 500  # axes, title and the "no data" note
        assert not has_colour(img, (44, 160, 44)) or name == "decisions"  # no bars drawn


def test_canary_orders_are_not_strategy_pnl_and_state_dir_is_read(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "eventlogs").mkdir(parents=True)
    synthetic_day(state / "eventlogs" / "mom.sqlite")
    with EventLog(state / "eventlogs" / "leak.sqlite") as log:  # a canary fill that leaked into eventlogs/
        log.append(OrderSubmitted(order=_order("canary0001-000", "canary", OrderSide.BUY), ts_ns=T0 + 5 * H))
        log.append(_fill("canary0001-000", OrderSide.BUY, "10", T0 + 5 * H + 1))
    audit = [
        *AUDIT,
        {"at": T0 / 1e9 + 100, "event": "CanaryPassed", "hops": {"fill": 1.0}},
        {"at": T0 / 1e9 + 200, "event": "CanaryFailed", "hop": "venue", "reason": "502", "gate": "G"},
    ]
    (state / "audit.jsonl").write_text("\n".join(json.dumps(a) for a in audit) + "\n{torn")
    paths = postmortem.write_for_state(state, DAY)
    md = paths["md"].read_text()
    assert "mom: +28.00" in md and "rev: -21.00" in md and "canary:" not in md
    assert "decisions: 6 successful, 1 failed" in md
    assert "1 passed, 1 failed" in md and "failed at venue: 502 (gate: G)" in md
    assert paths["html"].parent == state / "postmortems"


def test_a_fee_in_the_asset_bought_is_pnl_at_the_fill_price_and_leaves_the_position_net() -> None:
    """A buy of 1 BTC at 100 paying 0.001 BTC, then a sell of the 0.999 credited at 110 paying
    0.1 USDT: the account gained 0.999 × 110 − 0.1 − 100 = 9.79 USDT; the postmortem says so (it
    used to count the BTC fee as 0.001 USDT and sell a full 1 BTC it did not hold)."""
    buy = Fill(
        client_order_id=ClientOrderId("b1"), instrument_id=BTC, side=OrderSide.BUY, price=Decimal(100),
        quantity=Decimal(1), fee=Decimal("0.001"), fee_currency="BTC", ts_ns=T0,
    )  # fmt: skip
    sell = Fill(
        client_order_id=ClientOrderId("s1"), instrument_id=BTC, side=OrderSide.SELL, price=Decimal(110),
        quantity=Decimal("0.999"), fee=Decimal("0.1"), fee_currency="USDT", ts_ns=T0 + H,
    )  # fmt: skip
    events = [
        OrderSubmitted(order=_order("b1", "momo", OrderSide.BUY), ts_ns=T0).model_dump(mode="json"),
        OrderFilled(fill=buy, ts_ns=T0).model_dump(mode="json"),
        OrderSubmitted(order=_order("s1", "momo", OrderSide.SELL), ts_ns=T0 + H).model_dump(mode="json"),
        OrderFilled(fill=sell, ts_ns=T0 + H).model_dump(mode="json"),
    ]
    d = postmortem.collect([], events, DAY)
    assert d.pnl_by_strategy == {"momo": 9.79}


def test_an_event_written_to_several_logs_counts_once() -> None:
    """The trader writes a global gate change to audit.jsonl, risk.sqlite and every strategy's
    log: one event, one line."""
    g = GateChanged(
        ts_ns=T0, scope="global", old="GO", new="PAUSE", actor="risk-engine/drawdown", reason="dd"
    )
    rec = g.model_dump(mode="json")
    audit = [
        {
            "at": T0 / 1e9,
            "event": "GateChanged",
            "agent": "trader",
            **{k: v for k, v in rec.items() if k != "kind"},
        }
    ]
    day = postmortem.collect(audit, [rec, dict(rec), dict(rec)], DAY)
    assert [(x["scope"], x["new"]) for x in day.gates] == [("global", "PAUSE")]


def test_denials_group_by_cause_and_episode() -> None:
    """A STOP at 09:00 and another at 11:00 are two episodes; the exposure figure in a reason
    changes every tick, its cause does not."""

    def denied(ts: int, rule: str, reason: str) -> dict[str, object]:
        return OrderDenied(
            order=_order(f"d{ts}", "mom", OrderSide.BUY), ts_ns=ts, rule=rule, reason=reason
        ).model_dump(mode="json")

    s = 1_000_000_000
    events = [denied(T0 + i * s, "gate", "effective gate STOP") for i in range(5)]
    events += [denied(T0 + i * s, "exposure", f"pair exposure {1000 + i}.5 > cap 900") for i in range(3)]
    events += [denied(T0 + 2 * H + i * s, "gate", "effective gate STOP") for i in range(2)]
    day = postmortem.collect([], events, DAY)
    lines = dict(postmortem._sections(day))["Failed decisions"]
    assert lines == [
        "09:00:00 mom denied by gate: effective gate STOP (×5 until 09:00:04)",
        "09:00:00 mom denied by exposure: pair exposure 1000.5 > cap 900 (×3 until 09:00:02)",
        "11:00:00 mom denied by gate: effective gate STOP (×2 until 11:00:01)",
    ]
