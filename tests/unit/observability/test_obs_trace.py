"""Trace ids (roadmap 95): W3C traceparent validity, child spans, propagation over the chain."""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from quantops_trading.model.events import OrderFilled, OrderSubmitted, SignalEmitted
from quantops_trading.model.ids import ClientOrderId, InstrumentId, StrategyId, TraceId
from quantops_trading.model.orders import Fill, Order, OrderSide, OrderType
from quantops_trading.observability import trace
from quantops_trading.observability.trace import JsonTraceFormatter, TraceContext, Traceparent

W3C = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$")


class Intent(BaseModel):
    strategy: str
    target: float
    trace_id: TraceId | None = None
    traceparent: Traceparent | None = None


class RiskDecision(BaseModel):
    allowed: bool
    traceparent: Traceparent | None = None


def test_traceparent_format_and_round_trip() -> None:
    root = TraceContext.new()
    assert W3C.fullmatch(root.traceparent)
    back = TraceContext.parse(root.traceparent)
    assert (back.trace_id, back.span_id, back.sampled) == (root.trace_id, root.span_id, True)
    child = root.child("x")
    assert child.trace_id == root.trace_id and child.span_id != root.span_id
    assert child.parent_span_id == root.span_id
    assert TraceContext.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").sampled is False
    # a future version may append fields
    assert TraceContext.parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").sampled


@pytest.mark.parametrize(
    "bad",
    [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # missing flags
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  # v00 with extra field
    ],
)
def test_invalid_traceparents_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="traceparent"):
        TraceContext.parse(bad)
    with pytest.raises(ValidationError):
        RiskDecision(allowed=True, traceparent=bad)


def test_propagation_signal_intent_risk_order_fill() -> None:
    inst = InstrumentId("BTC/USDT@binance")
    chain: list[BaseModel] = []
    spans: list[TraceContext] = []
    with trace.span("signal") as s:
        spans.append(s)
        chain.append(trace.stamp(SignalEmitted(strategy_id=StrategyId("mom"), instrument_id=inst, value=0.5)))
        with trace.span("intent") as i:
            spans.append(i)
            chain.append(trace.stamp(Intent(strategy="mom", target=0.5)))
    # the risk gateway receives the intent elsewhere and continues from its traceparent
    intent = chain[1]
    assert isinstance(intent, Intent) and intent.traceparent
    with trace.span("risk", parent=intent.traceparent) as r:
        spans.append(r)
        chain.append(trace.stamp(RiskDecision(allowed=True)))
        with trace.span("order") as o:
            spans.append(o)
            order = Order(
                client_order_id=ClientOrderId("qo-mom-1"),
                strategy_id=StrategyId("mom"),
                instrument_id=inst,
                side=OrderSide.BUY,
                type=OrderType.MARKET,
                quantity=Decimal("0.1"),
            )
            chain.append(trace.stamp(OrderSubmitted(order=order)))
            with trace.span("fill") as f:
                spans.append(f)
                fill = Fill(
                    client_order_id=ClientOrderId("qo-mom-1"),
                    instrument_id=inst,
                    side=OrderSide.BUY,
                    price=Decimal("50000"),
                    quantity=Decimal("0.1"),
                    ts_ns=1,
                )
                chain.append(trace.stamp(OrderFilled(fill=fill)))
    assert trace.current() is None  # the context is restored after the chain
    ids = {str(getattr(m, "trace_id", None) or TraceContext.parse(m.traceparent).trace_id) for m in chain}
    assert ids == {spans[0].trace_id}, "every event of the chain carries the signal's trace id"
    assert isinstance(chain[0], SignalEmitted) and isinstance(chain[0].trace_id, TraceId)
    for parent, child in itertools.pairwise(spans):
        assert child.parent_span_id == parent.span_id, f"{child.name} is a child of {parent.name}"
    assert len({s.span_id for s in spans}) == 5
    resumed = trace.resume(chain[-1], "after")
    assert resumed.trace_id == spans[0].trace_id


def test_json_log_lines_carry_trace_ids() -> None:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonTraceFormatter())
    log = logging.getLogger("test.obs.trace")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("outside")
        with trace.span("order") as ctx:
            log.info("sent %s", "qo-1", extra={"fields": {"client_order_id": "qo-1"}})
    finally:
        log.removeHandler(handler)
    outside, inside = (json.loads(x) for x in buf.getvalue().splitlines())
    assert "trace_id" not in outside and outside["msg"] == "outside"
    assert inside["trace_id"] == ctx.trace_id and inside["span_id"] == ctx.span_id
    assert W3C.fullmatch(inside["traceparent"]) and inside["client_order_id"] == "qo-1"
    assert inside["msg"] == "sent qo-1" and inside["span"] == "order"
