"""Matching engine semantics on hand-made books: price-time priority, partial fills, fees, seeds."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from quantops_trading.venue.books import MarketData, ReplayClock
from quantops_trading.venue.config import ApiKey, SlippageModel, SymbolConfig, VenueConfig
from quantops_trading.venue.matching import MatchingEngine
from quantops_trading.venue.rejects import Reject

SYM = SymbolConfig(symbol="BTC/USDT", base="BTC", quote="USDT", book_file="x", min_notional=Decimal(1))
D = Decimal


def _engine(rows: list[list[float]], **cfg: object) -> tuple[MatchingEngine, ReplayClock]:
    ts = np.arange(len(rows), dtype=np.int64) * 1000 + 1_000_000
    md = MarketData(
        SYM, book=(ts, ts.copy(), np.array(rows, dtype=np.float64)), candles=None, trades=None, offset_ms=0
    )
    vc = VenueConfig(
        symbols=[SYM],
        api_keys=[ApiKey(key="a", secret="s", balances={"USDT": D(100_000), "BTC": D(10)})],
        maker_fee=D("0.001"),
        taker_fee=D("0.002"),
        **cfg,
    )
    clock = ReplayClock()
    return MatchingEngine(vc, {"BTC/USDT": md}, clock, lambda: 42), clock


#            bid1  q   bid2  q   ask1   q    ask2   q
CALM = [100.0, 1.0, 99.0, 1.0, 101.0, 1.0, 102.0, 1.0]
DIP = [96.0, 1.0, 95.0, 1.0, 97.0, 0.15, 98.0, 0.1]


def test_taker_walks_levels_and_partially_fills_when_book_is_thin() -> None:
    eng, _ = _engine([CALM, CALM])
    o = eng.place("a", "BTC/USDT", "BUY", "MARKET", D("2.5"), None, "GTC", "m1")
    assert o.status == "EXPIRED" and o.executed == D(2)  # only 2 BTC on the ask side
    assert [f.price for f in o.fills] == [D(101), D(102)]
    assert all(not f.is_maker and f.commission == f.qty * D("0.002") for f in o.fills)
    again = eng.place("a", "BTC/USDT", "BUY", "MARKET", D("0.5"), None, "GTC", "m2")
    assert again.executed == 0  # liquidity already taken from this snapshot is not sold twice


def test_resting_orders_fill_in_price_time_priority_as_maker() -> None:
    eng, clock = _engine([CALM, DIP])
    first = eng.place("a", "BTC/USDT", "BUY", "LIMIT", D("0.1"), D(100), "GTC", "first")
    second = eng.place("a", "BTC/USDT", "BUY", "LIMIT", D("0.1"), D(100), "GTC", "second")
    best = eng.place("a", "BTC/USDT", "BUY", "LIMIT", D("0.1"), D("100.5"), "GTC", "best")
    assert eng.match_resting() == 0
    clock.step(1000)  # the replay dips: 0.25 BTC offered at/below 98
    eng.match_resting()
    assert best.executed == D("0.1") and best.fills[0].price == D("100.5") and best.fills[0].is_maker
    assert first.executed == D("0.1") and first.status == "FILLED"
    assert second.executed == D("0.05") and second.status == "PARTIALLY_FILLED"


def test_balances_lock_release_and_fees() -> None:
    eng, _ = _engine([CALM])
    o = eng.place("a", "BTC/USDT", "BUY", "LIMIT", D(1), D(90), "GTC", "x")
    usdt = eng.accounts["a"]["USDT"]
    assert usdt.locked == D(90) * D("1.002")
    eng.cancel("a", "BTC/USDT", o.order_id, None)
    assert usdt.locked == 0 and usdt.free == 100_000
    eng.place("a", "BTC/USDT", "SELL", "LIMIT", D(1), D(100), "IOC", "s")  # taker at the bid
    assert eng.accounts["a"]["USDT"].free == 100_000 + D(100) - D("0.2")
    assert eng.accounts["a"]["BTC"].free == 9


@pytest.mark.parametrize(
    ("qty", "price", "code", "text"),
    [
        (D("0.000001"), D(100), -1013, "LOT_SIZE"),
        (D(1), D("100.001"), -1013, "PRICE_FILTER"),
        (D("0.001"), D(100), -1013, "NOTIONAL"),
        (D(5000), D(100), -2010, "insufficient balance"),
    ],
)
def test_rejects(qty: Decimal, price: Decimal, code: int, text: str) -> None:
    eng, _ = _engine([CALM])
    with pytest.raises(Reject) as info:
        eng.place("a", "BTC/USDT", "BUY", "LIMIT", qty, price, "GTC", "r")
    assert info.value.code == code and text in info.value.msg
    assert eng.orders == {}


def test_fok_is_all_or_nothing() -> None:
    eng, _ = _engine([CALM])
    o = eng.place("a", "BTC/USDT", "BUY", "LIMIT", D(3), D(102), "FOK", "f")
    assert o.status == "EXPIRED" and o.executed == 0 and eng.accounts["a"]["USDT"].locked == 0


def test_slippage_is_deterministic_under_seed() -> None:
    def run(seed: int) -> list[Decimal]:
        eng, _ = _engine([CALM], seed=seed, slippage=SlippageModel(bps=D(5), jitter_bps=D(10)))
        return [f.price for f in eng.place("a", "BTC/USDT", "BUY", "MARKET", D(2), None, "GTC", "m").fills]

    assert run(3) == run(3)
    assert all(p > D(101) for p in run(3))  # adverse
    assert run(3) != run(4)
