"""Pure policy units: client ids (71), retry math (74), book sanity (72), queue (80), validator (77),
DNS fallback (68), gate routing (78) and the ccxt → library error-translation contract."""

from __future__ import annotations

import random
from decimal import Decimal

import ccxt
import pytest
from exec_support import intent

from quantops_trading.adapters.ccxt.errors import TRANSLATION, translate, translating
from quantops_trading.execution import errors as qe
from quantops_trading.execution.client_ids import CLIENT_ID_PATTERN, client_order_id, is_ours
from quantops_trading.execution.dns import resolve_with_fallback, static_resolver, system_resolver
from quantops_trading.execution.paper import choose_route
from quantops_trading.execution.pretrade import check_book
from quantops_trading.execution.queue import ActionKind, ActionQueue
from quantops_trading.execution.retry import RetryPolicy, retry_call
from quantops_trading.execution.types import Fill, Gate, OrderBook, Side
from quantops_trading.execution.validator import FillGate

D = Decimal


def test_client_ids_are_deterministic_venue_safe_and_attempt_scoped() -> None:
    a = client_order_id("strat", "intent-1", 0)
    assert a == client_order_id("strat", "intent-1", 0)
    assert a != client_order_id("strat", "intent-1", 1) != client_order_id("strat", "intent-2", 0)
    assert a != client_order_id("strat2", "intent-1", 0)
    assert CLIENT_ID_PATTERN.match(a) and len(a) <= 36 and is_ours(a)
    assert not is_ours("x-TKT5PX2F-random")
    with pytest.raises(ValueError, match="attempt"):
        client_order_id("s", "i", -1)


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0, rng=random.Random(1))
    for attempt in range(8):
        ceiling = min(1.0, 0.1 * 2**attempt)
        samples = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # full jitter spans the whole range
    assert policy.delay(0, qe.RateLimited("x", retry_after=0.7)) >= 0.7


async def test_retry_call_retries_only_retryable_errors() -> None:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise qe.ExchangeUnavailable("down")
        return "ok"

    assert await retry_call(flaky, RetryPolicy(max_attempts=5), sleep=sleep) == "ok"
    assert calls == 3 and len(slept) == 2

    async def final() -> str:
        raise qe.InsufficientFunds("no")

    with pytest.raises(qe.InsufficientFunds):
        await retry_call(final, RetryPolicy(max_attempts=5), sleep=sleep)
    assert len(slept) == 2


def _book(bids: list[tuple[str, str]], asks: list[tuple[str, str]], ts: int | None = 1_000) -> OrderBook:
    return OrderBook(
        symbol="BTC/USDT",
        bids=tuple((D(p), D(q)) for p, q in bids),
        asks=tuple((D(p), D(q)) for p, q in asks),
        timestamp_ms=ts,
    )


@pytest.mark.parametrize(
    ("book", "now", "problem"),
    [
        (_book([("101", "1")], [("100", "1")]), 1_000, "crossed"),
        (_book([("100", "1")], [("100", "1")]), 1_000, "locked"),
        (_book([("99", "1")], [("100", "1")]), 60_000, "stale"),
        (_book([("99", "1")], [("100", "1")], ts=None), 1_000, "stale"),
        (_book([("99", "1")], [("100", "0.1")]), 1_000, "too thin"),
        (_book([], [("100", "1")]), 1_000, "empty"),
    ],
)
def test_book_sanity_blocks(book: OrderBook, now: int, problem: str) -> None:
    verdict = check_book(book, now_ms=now, side=Side.BUY, quantity=D("0.5"))
    assert not verdict.ok and any(problem in p for p in verdict.problems)


def test_book_sanity_passes_a_healthy_book() -> None:
    assert check_book(_book([("99", "1")], [("100", "1")]), now_ms=1_500, side=Side.BUY, quantity=D("0.5")).ok


def test_priority_queue_orders_cancels_then_reductions_then_confidence() -> None:
    q: ActionQueue[str] = ActionQueue()
    q.put("entry-low", ActionKind.ENTRY, 0.2)
    q.put("entry-high", ActionKind.ENTRY, 0.9)
    q.put("reduce", ActionKind.REDUCE, 0.1)
    q.put("cancel-b", ActionKind.CANCEL)
    q.put("cancel-a", ActionKind.CANCEL)
    q.put("entry-high-2", ActionKind.ENTRY, 0.9)
    out = [q.pop() for _ in range(len(q))]
    assert out == ["cancel-b", "cancel-a", "reduce", "entry-high", "entry-high-2", "entry-low"]


def _fill(**kw: object) -> Fill:
    base: dict[str, object] = {
        "venue": "v", "symbol": "BTC/USDT", "trade_id": "1", "venue_order_id": "9", "side": Side.BUY,
        "price": D(60000), "quantity": D("0.01"), "fee": D("0.00001"), "fee_currency": "BTC",
        "is_maker": True, "timestamp_ms": 1,
    }  # fmt: skip
    base.update(kw)
    return Fill(**base)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"side": Side.SELL}, "side"),
        ({"symbol": "ETH/BTC"}, "symbol"),
        ({"quantity": D("0.02")}, "overfill"),
        ({"price": D(61000)}, "above"),
        ({"fee": D("0.001")}, "fee"),
        ({"fee": D(-1)}, "negative fee"),
    ],
)
def test_fill_mismatches_are_quarantined(kw: dict[str, object], reason: str) -> None:
    gate = FillGate()
    verdict = gate.admit(intent(), _fill(**kw))
    assert not verdict.ok and any(reason in r for r in verdict.reasons)
    assert gate.accepted == [] and gate.quarantined == [verdict]


def test_good_fills_are_admitted_until_the_intent_is_full() -> None:
    gate = FillGate()
    assert gate.admit(intent(qty="0.02"), _fill(trade_id="1")).ok
    assert gate.admit(intent(qty="0.02"), _fill(trade_id="2", fee=D("0.6"), fee_currency="USDT")).ok
    assert not gate.admit(intent(qty="0.02"), _fill(trade_id="3")).ok  # third would overfill


async def test_dns_falls_back_through_resolvers_in_order() -> None:
    empty = static_resolver({})
    hosts = static_resolver({"venue-a.sim": ["127.0.0.1"]})
    res = await resolve_with_fallback("venue-a.sim", [("static-empty", empty), ("hosts", hosts)])
    assert res.addresses == ("127.0.0.1",) and res.resolver == "hosts"
    assert res.failures[0].startswith("static-empty")
    local = await resolve_with_fallback("localhost", [("static-empty", empty), ("system", system_resolver())])
    assert local.resolver == "system" and any(a in ("127.0.0.1", "::1") for a in local.addresses)
    with pytest.raises(qe.ExchangeUnavailable, match="cannot resolve"):
        await resolve_with_fallback("nowhere.sim", [("static-empty", empty)])
    assert (await resolve_with_fallback("127.0.0.1", [])).resolver == "literal"


@pytest.mark.parametrize(
    ("gate", "live", "reduce", "route"),
    [
        ("STOP", True, True, "deny:gate STOP"),
        ("PAUSE", True, False, "deny:gate PAUSE allows only reduce-only orders"),
        ("PAUSE", True, True, "live"),
        ("PAUSE", False, True, "deny:venue unavailable"),
        ("CHECK", True, False, "paper"),
        ("GO", True, False, "live"),
        ("GO", False, False, "paper"),
    ],
)
def test_gate_routing(gate: str, live: bool, reduce: bool, route: str) -> None:
    assert choose_route(gate, live_available=live, reduce_only=reduce) == route
    assert choose_route(Gate(gate), live_available=live, reduce_only=reduce) == route


@pytest.mark.parametrize(("ccxt_cls", "ours"), TRANSLATION)
async def test_every_ccxt_error_translates_at_the_boundary(ccxt_cls: type[Exception], ours: type) -> None:
    with pytest.raises(qe.TradingError) as info:
        async with translating("v", lambda: {"Retry-After": "3"}):
            raise ccxt_cls("boom")
    assert type(info.value) is ours and isinstance(info.value.__cause__, ccxt_cls)
    if ours is qe.RateLimited:
        assert info.value.retry_after == 3  # type: ignore[attr-defined]


def test_duplicate_client_id_text_becomes_duplicate_order() -> None:
    err = translate(ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'), "v")
    assert isinstance(err, qe.DuplicateOrder) and not err.retryable
    assert translate(TimeoutError(), "v").retryable
