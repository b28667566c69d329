"""The simulator's ``/_sim/state`` names each order's account and lists its fills (trade ids, fees):
the soak's invariant checker compares them with the trader's books (quantops_local.invariants)."""

from __future__ import annotations

from decimal import Decimal

from quantops_trading.adapters.ccxt import make_binance
from quantops_trading.venue.testing import API_KEY, API_SECRET, SimControl, running_venue


async def test_state_lists_each_orders_account_and_fills() -> None:
    async with running_venue() as sim:
        ex = make_binance(sim.url, API_KEY, API_SECRET)
        try:
            await ex.load_markets()
            ask = (await ex.fetch_order_book("BTC/USDT"))["asks"][0][0]
            await ex.create_order("BTC/USDT", "limit", "buy", 0.001, ask, {"newClientOrderId": "soak-1"})
            trades = await ex.fetch_my_trades("BTC/USDT")
        finally:
            await ex.close()
        state = await SimControl(sim.url).state()
    (order,) = [o for o in state["orders"] if o["clientOrderId"] == "soak-1"]
    assert order["account"] == API_KEY
    assert {str(f["tradeId"]) for f in order["fills"]} == {str(t["id"]) for t in trades}
    assert sum(Decimal(f["qty"]) for f in order["fills"]) == Decimal(order["executedQty"]) > 0
    fee = order["fills"][0]
    assert fee["commissionAsset"] == "BTC" and Decimal(fee["commission"]) > 0 and fee["isBuyer"] is True
