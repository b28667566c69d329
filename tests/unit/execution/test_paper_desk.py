"""The trader's paper desk: WARM would-be orders fill on the given book, once, into paper positions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quantops_trading.execution.types import MarketRules, OrderBook, OrderIntent, OrderType, Side
from quantops_trading.runtime.paper_desk import PaperDesk

D = Decimal
SYMBOL = "BTC/USDT"
RULES = MarketRules(
    symbol=SYMBOL, base="BTC", quote="USDT", tick_size=D("0.01"), step_size=D("0.001"),
    min_qty=D("0.001"), min_notional=D("5"),
)  # fmt: skip


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> OrderBook:
    side = lambda lv: tuple((D(p), D(q)) for p, q in lv)  # noqa: E731
    return OrderBook(symbol=SYMBOL, bids=side(bids), asks=side(asks), timestamp_ms=1)


def intent(side: Side, qty: str, price: str, n: int) -> OrderIntent:
    return OrderIntent(
        strategy_id="momo", intent_id=f"i{n}", symbol=SYMBOL, side=side, type=OrderType.LIMIT,
        quantity=D(qty), price=D(price),
    )  # fmt: skip


@pytest.fixture
def desk() -> PaperDesk:
    return PaperDesk("sim", {SYMBOL: RULES}, taker_fee=D("0.0005"), maker_fee=D("0.0002"))


async def test_a_marketable_order_walks_the_levels_to_its_limit_at_the_taker_fee(desk: PaperDesk) -> None:
    await desk.on_book(book([("99", "1")], [("100", "0.4"), ("101", "0.4"), ("102", "5")]), D("99.5"))
    fills = await desk.place(intent(Side.BUY, "1", "101", 1), "c1", {"stage": "WARM"})
    got = [(f.price, f.quantity, f.liquidity) for f in fills]
    assert got == [("100", "0.4", "taker"), ("101", "0.4", "taker")]
    assert D(fills[0].fee) == D("100") * D("0.4") * D("0.0005")
    assert all(f.lineage == {"stage": "WARM"} and f.strategy_id == "momo" for f in fills)
    assert desk.position("momo", SYMBOL) == D("0.8")
    assert desk.working_for("momo", SYMBOL) == ["c1"]  # 0.2 left rests at 101
    # the rest fills only when a later book trades through 101, at 101, as maker; once
    assert await desk.on_book(book([("99", "1")], [("101.5", "1")]), D("100")) == []
    later = await desk.on_book(book([("99", "1")], [("100.5", "3")]), D("100"))
    assert [(f.price, f.quantity, f.liquidity) for f in later] == [("101", "0.2", "maker")]
    assert await desk.on_book(book([("99", "1")], [("100.5", "3")]), D("100")) == []
    assert desk.position("momo", SYMBOL) == D("1.0") and desk.working_for("momo") == []
    assert desk.broker.orders == {} and desk.broker.fills == []  # final orders are let go


async def test_paper_pnl_is_marked_on_the_book_and_fees_are_paid(desk: PaperDesk) -> None:
    await desk.on_book(book([("99", "1")], [("100", "5")]), D("99.5"))
    await desk.place(intent(Side.BUY, "1", "100", 1), "c1", {})
    await desk.on_book(book([("109", "5")], [("111", "5")]), D("110"))
    assert desk.positions.pnl("momo") == D("10") - D("100") * D("0.0005")  # unrealised +10, fee
    sold = await desk.place(intent(Side.SELL, "1", "109", 2), "c2", {})
    assert [(f.side, f.price) for f in sold] == [("sell", "109")]
    h = desk.positions.holdings[("momo", SYMBOL)]
    assert h.qty == 0 and h.realised == D("9") - D("0.05") - D("109") * D("0.0005")


async def test_a_passive_order_rests_and_a_cancelled_one_never_fills(desk: PaperDesk) -> None:
    await desk.on_book(book([("99", "1")], [("100", "5")]), D("99.5"))
    assert await desk.place(intent(Side.BUY, "1", "99", 1), "c1", {}) == []
    assert desk.working_for("momo", SYMBOL) == ["c1"] and desk.position("momo", SYMBOL) == 0
    await desk.cancel("c1")
    assert await desk.on_book(book([("97", "1")], [("98", "5")]), D("97.5")) == []
    assert desk.position("momo", SYMBOL) == 0 and desk.working_for("momo") == []
    assert desk.broker.orders == {}
