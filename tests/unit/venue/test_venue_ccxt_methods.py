"""Every ccxt method the spec lists, through the real ccxt binance client over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from quantops_trading.adapters.ccxt import make_binance
from quantops_trading.venue.server import VenueServer
from quantops_trading.venue.testing import API_KEY, API_SECRET, SimControl, running_venue


@pytest.fixture
async def sim() -> AsyncIterator[VenueServer]:
    async with running_venue() as server:
        yield server


@pytest.fixture
async def ex(sim: VenueServer) -> AsyncIterator[Any]:
    exchange = make_binance(sim.url, API_KEY, API_SECRET)
    try:
        await exchange.load_markets()
        yield exchange
    finally:
        await exchange.close()


async def test_load_markets_exposes_filters(ex: Any) -> None:
    m = ex.markets["BTC/USDT"]
    assert m["spot"] and m["id"] == "BTCUSDT"
    assert m["precision"]["price"] == 0.01 and m["precision"]["amount"] == 0.00001
    assert m["limits"]["cost"]["min"] == 5
    assert ex.markets["ETH/BTC"]["precision"]["amount"] == 0.001


async def test_public_market_data(ex: Any, sim: VenueServer) -> None:
    assert abs(await ex.fetch_time() - sim.now_ms()) < 5_000
    t = await ex.fetch_ticker("BTC/USDT")
    assert t["bid"] == 61837.63 and t["ask"] == 61837.64  # first row of the real L2 file
    assert set(await ex.fetch_tickers()) == {"BTC/USDT", "ETH/BTC"}
    ob = await ex.fetch_order_book("BTC/USDT", 5)
    assert len(ob["bids"]) == 5 and ob["bids"][0][0] < ob["asks"][0][0]
    assert ob["nonce"] == 50093239224 and ob["timestamp"] is not None
    eth = await ex.fetch_order_book("ETH/BTC")
    assert eth["bids"][0][0] < eth["asks"][0][0]  # synthetic book around the real candle
    bars = await ex.fetch_ohlcv("ETH/BTC", "5m", limit=3)
    assert len(bars) >= 1 and bars[-1][2] >= bars[-1][3]
    trades = await ex.fetch_trades("BTC/USDT", limit=5)
    assert trades and trades[-1]["price"] == 61837.63


async def test_replay_clock_moves_the_book(ex: Any, sim: VenueServer) -> None:
    first = await ex.fetch_order_book("BTC/USDT")
    await SimControl(sim.url).step(60_000)
    later = await ex.fetch_order_book("BTC/USDT")
    assert later["nonce"] > first["nonce"]


async def test_order_lifecycle(ex: Any, sim: VenueServer) -> None:
    bal = await ex.fetch_balance()
    assert bal["free"]["USDT"] == 1_000_000
    o = await ex.create_order("BTC/USDT", "limit", "buy", "0.01", "60000", {"newClientOrderId": "life-1"})
    assert o["status"] == "open" and o["clientOrderId"] == "life-1"
    assert (await ex.fetch_balance())["used"]["USDT"] == pytest.approx(600 * 1.001)
    fetched = await ex.fetch_order(o["id"], "BTC/USDT")
    assert fetched["amount"] == 0.01 and fetched["price"] == 60000
    by_cid = await ex.fetch_order("", "BTC/USDT", {"origClientOrderId": "life-1"})
    assert by_cid["id"] == o["id"]
    assert [x["id"] for x in await ex.fetch_open_orders("BTC/USDT")] == [o["id"]]
    assert (await ex.cancel_order(o["id"], "BTC/USDT"))["status"] == "canceled"
    assert (await ex.fetch_balance())["used"]["USDT"] == 0
    await ex.create_order("BTC/USDT", "limit", "sell", "0.01", "70000")
    await ex.create_order("BTC/USDT", "limit", "sell", "0.02", "71000")
    assert len(await ex.cancel_all_orders("BTC/USDT")) == 2
    assert await ex.fetch_open_orders("BTC/USDT") == []


async def test_market_order_fills_against_real_book_with_fees(ex: Any) -> None:
    o = await ex.create_order("BTC/USDT", "market", "buy", "2")  # deeper than the first ask level
    assert o["status"] == "closed" and o["filled"] == 2
    assert o["average"] > 61837.64  # walked the book: price impact
    trades = await ex.fetch_my_trades("BTC/USDT")
    assert len(trades) > 1 and all(t["takerOrMaker"] == "taker" for t in trades)
    qty = sum(Decimal(t["info"]["qty"]) for t in trades)
    fee = sum(Decimal(t["info"]["commission"]) for t in trades)
    assert qty == 2 and fee == pytest.approx(Decimal("0.002"), abs=Decimal("0.0001"))
    closed = await ex.fetch_closed_orders("BTC/USDT")
    assert [c["id"] for c in closed] == [o["id"]]
    bal = await ex.fetch_balance()
    assert Decimal(str(bal["free"]["BTC"])) == 2 + 2 - fee


async def test_resting_limit_fills_as_maker_when_market_trades_through(ex: Any, sim: VenueServer) -> None:
    top = (await ex.fetch_order_book("BTC/USDT"))["bids"][0][0]
    o = await ex.create_order("BTC/USDT", "limit", "sell", "0.01", str(top + 0.01))
    assert o["filled"] == 0
    ctl = SimControl(sim.url)
    for _ in range(60):  # step the real replay until the bid rises through our ask
        await ctl.step(5_000)
        if (await ex.fetch_order(o["id"], "BTC/USDT"))["status"] == "closed":
            break
    trades = await ex.fetch_my_trades("BTC/USDT")
    assert trades and all(t["takerOrMaker"] == "maker" for t in trades)
    assert trades[0]["price"] == pytest.approx(top + 0.01)


async def test_duplicate_client_order_id_is_rejected(ex: Any) -> None:
    await ex.create_order("BTC/USDT", "limit", "buy", "0.01", "60000", {"newClientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        await ex.create_order("BTC/USDT", "limit", "buy", "0.01", "60000", {"newClientOrderId": "dup-1"})
    assert len(await ex.fetch_open_orders("BTC/USDT")) == 1


@pytest.mark.parametrize(
    ("kwargs", "exc", "text"),
    [
        ({"amount": "100", "price": "60000"}, ccxt.InsufficientFunds, "insufficient balance"),
        ({"amount": "0.000015", "price": "60000"}, ccxt.InvalidOrder, "LOT_SIZE"),
        ({"amount": "0.01", "price": "60000.005"}, ccxt.InvalidOrder, "PRICE_FILTER"),
        ({"amount": "0.00001", "price": "60000"}, ccxt.BadRequest, "NOTIONAL"),
    ],
)
async def test_venue_rejects_in_binance_shapes(ex: Any, kwargs: dict[str, str], exc: type, text: str) -> None:
    ex.markets["BTC/USDT"]["precision"] = {"amount": 1e-8, "price": 1e-8}  # let bad values through ccxt
    with pytest.raises(exc, match=text):
        await ex.create_order("BTC/USDT", "limit", "buy", kwargs["amount"], kwargs["price"])


async def test_unknown_order_is_order_not_found(ex: Any) -> None:
    with pytest.raises(ccxt.OrderNotFound):
        await ex.fetch_order("424242", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        await ex.cancel_order("424242", "BTC/USDT")


async def test_wrong_secret_and_unknown_key_are_authentication_errors(sim: VenueServer) -> None:
    for key, secret in ((API_KEY, "wrong"), ("nobody", API_SECRET)):
        ex = make_binance(sim.url, key, secret)
        try:
            with pytest.raises(ccxt.AuthenticationError):
                await ex.fetch_balance()
        finally:
            await ex.close()
