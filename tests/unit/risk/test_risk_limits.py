"""Limits and kill switches: losses (53), drawdown (54), concentration (56), cash (57), rate (59), 65, 66."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from risk_support import fill, gateway, permissive, req

from quantops_api import Gate
from quantops_trading.risk import OrderRequest
from quantops_trading.risk.heatmap import concentration_heatmap, render, render_html


async def test_53_consecutive_losses_stop_then_cooldown_before_entries_resume() -> None:
    gw, _, clock = gateway(permissive(max_consecutive_losses=3, loss_cooldown_seconds=300))
    for _ in range(3):
        gw.on_fill("alpha", fill("buy", "1", "100"))
        gw.on_fill("alpha", fill("sell", "1", "99"))  # a losing close
    assert gw.scope_gate("strategy/alpha") is Gate.STOP
    assert (await gw.submit(req())).denied
    clock.advance(299)
    assert (await gw.submit(req())).denied
    clock.advance(2)
    assert (await gw.submit(req())).action == "sent"
    assert gw.scope_gate("strategy/alpha") is Gate.GO


async def test_53_a_win_resets_the_loss_streak() -> None:
    gw, _, _ = gateway(permissive(max_consecutive_losses=2))
    for px in ("99", "101", "99"):
        gw.on_fill("alpha", fill("buy", "1", "100"))
        gw.on_fill("alpha", fill("sell", "1", px))
    assert gw.scope_gate("strategy/alpha") is Gate.GO


async def test_54_drawdown_kill_switch_per_strategy_and_portfolio_from_the_peak() -> None:
    gw, _, _ = gateway(permissive(max_drawdown=0.1, max_pair_exposure=None), default_capital=Decimal(1000))
    gw.set_capital("alpha", Decimal(1000))
    gw.set_capital("beta", Decimal(1000))
    gw.on_fill("alpha", fill("buy", "10", "100"))
    gw.on_price("BTC/USDT", Decimal(110))  # peak equity 1100
    gw.on_price("BTC/USDT", Decimal(100))  # 1000: 9.1% down from the peak, not yet
    assert gw.scope_gate("strategy/alpha") is Gate.GO
    gw.on_price("BTC/USDT", Decimal(98))  # 980 → 10.9% from 1100
    assert gw.scope_gate("strategy/alpha") is Gate.STOP
    assert gw.scope_gate("global") is Gate.GO  # portfolio 2000 → 1980 from 2100 = 5.7%
    assert not (await gw.submit(req(strategy="beta", qty="0.1"))).denied
    gw.on_fill("beta", fill("buy", "10", "98"))
    gw.on_price("BTC/USDT", Decimal(88))  # portfolio 2100 peak → 1780
    assert gw.scope_gate("global") is Gate.STOP
    gw.on_price("BTC/USDT", Decimal(120))  # latched: recovery does not lift it
    assert gw.scope_gate("global") is Gate.STOP
    gw.reset_kill_switch("global", "drawdown", actor="ops", reason="reviewed")
    assert gw.scope_gate("global") is Gate.GO


async def test_56_concentration_cap_and_heatmap(tmp_path: Path) -> None:
    gw, _, _ = gateway(permissive(concentration_cap=0.4, risk_budget=1000.0))
    assert (await gw.submit(req("buy", "5"))).denied  # 500 / max(500, 1000) = 50% > 40%
    assert not (await gw.submit(req("buy", "3"))).denied
    gw.on_fill("alpha", fill("buy", "3", "100"))
    gw.on_fill("beta", fill("buy", "2", "50", pair="ETH/USDT"))
    data = concentration_heatmap(gw.book, gw.global_policy)
    assert data["cells"]["alpha"]["BTC/USDT"] == 0.3 and data["cells"]["beta"]["ETH/USDT"] == 0.1
    gw.on_price("BTC/USDT", Decimal(200))
    data = concentration_heatmap(gw.book, gw.global_policy)
    assert data["over_cap"] == ["BTC/USDT"]
    out = render(data, tmp_path)
    assert out.exists() and out.stat().st_size > 0
    assert "BTC/USDT" in render_html(data) and "<script" not in render_html(data)


async def test_57_cash_floor_denies_buys_and_emergency_stops() -> None:
    gw, _, _ = gateway(permissive(cash_floor=1000.0))
    gw.update_cash(Decimal(1200))
    assert (await gw.submit(req("buy", "3"))).denied  # 1200 - 300 < 1000
    assert not (await gw.submit(req("buy", "1"))).denied
    gw.on_fill("alpha", fill("buy", "3", "100"))  # cash 900: emergency STOP
    assert gw.scope_gate("global") is Gate.STOP
    assert gw.switches("global") == {"cash_floor": Gate.STOP}


async def test_59_governor_limits_orders_per_minute_per_strategy_and_globally() -> None:
    gw, _, clock = gateway(permissive(max_orders_per_minute=3, max_trades_per_minute=100))
    for _ in range(3):
        assert not (await gw.submit(req("buy", "0.01"))).denied
    d = await gw.submit(req("buy", "0.01"))
    assert d.denied and d.reasons[0][0] == "overtrade"
    clock.advance(61)
    assert not (await gw.submit(req("buy", "0.01"))).denied
    gw2, _, _ = gateway(permissive(max_orders_per_minute=4))
    for s in ("a", "b", "c", "d"):
        assert not (await gw2.submit(req("buy", "0.01", strategy=s))).denied
    assert "globally" in (await gw2.submit(req("buy", "0.01", strategy="e"))).reasons[0][1]


async def test_59_governor_limits_trades_per_minute() -> None:
    gw, _, _ = gateway(permissive(max_trades_per_minute=2))
    gw.on_fill("alpha", fill("buy", "0.1", "100"))
    gw.on_fill("alpha", fill("buy", "0.1", "100"))
    assert "trades" in (await gw.submit(req("buy", "0.01"))).reasons[0][1]


async def test_65_stale_orders_are_cancelled_after_the_ttl() -> None:
    gw, _, clock = gateway(permissive(stale_order_ttl_seconds=30))
    d1 = await gw.submit(req("buy", "0.01", market=False))
    clock.advance(20)
    d2 = await gw.submit(req("buy", "0.01", market=False))
    clock.advance(15)
    assert [o.client_order_id for o in gw.stale_orders()] == [d1.client_order_id]
    gw.order_closed(str(d2.client_order_id))
    gw.order_closed(str(d1.client_order_id))
    clock.advance(100)
    assert gw.stale_orders() == []


async def test_65_cancel_to_fill_ratio_blocks_new_orders() -> None:
    gw, _, _ = gateway(permissive(max_cancel_to_fill_ratio=2.0))
    gw.on_fill("alpha", fill("buy", "0.1", "100"))
    for i in range(3):
        await gw.cancel("alpha", "BTC/USDT", f"c{i}")
    d = await gw.submit(req("buy", "0.01"))
    assert d.denied and d.reasons[0][0] == "cancel_to_fill"
    assert not (await gw.submit(req("buy", "0.01", strategy="beta"))).denied


async def test_66_fee_guard_needs_edge_over_fees_plus_slippage() -> None:
    policy = permissive(fee_guard={"maker_fee_bps": 2, "taker_fee_bps": 10, "min_edge_over_cost_bps": 1})
    gw, _, _ = gateway(policy)
    assert (await gw.submit(req(edge=12.0, expected_slippage_bps=2.0))).denied  # taker 10+2+1 = 13
    assert not (await gw.submit(req(edge=14.0, expected_slippage_bps=2.0))).denied
    assert not (await gw.submit(req(edge=4.0, market=False))).denied  # maker 2+0+1 = 3
    assert (await gw.submit(req(edge=None))).reasons[0][0] == "fee_guard"
    gw.on_fill("alpha", fill("buy", "1", "100"))
    assert not (await gw.submit(req("sell", "1", edge=None))).denied  # exits are never fee-guarded


async def test_66_a_limit_priced_through_the_mid_pays_the_taker_fee() -> None:
    """A GTC limit at the opposite best executes at once: it is judged with the taker fee."""
    policy = permissive(fee_guard={"maker_fee_bps": 2, "taker_fee_bps": 10, "min_edge_over_cost_bps": 1})
    gw, _, _ = gateway(policy)
    mid = Decimal("100")
    buy_at_ask = OrderRequest(req(price="100.05", market=False).intent, mid, expected_edge_bps=5.0)
    sell_at_bid = OrderRequest(req("sell", price="99.95", market=False).intent, mid, expected_edge_bps=5.0)
    buy_at_bid = OrderRequest(req(price="99.95", market=False).intent, mid, expected_edge_bps=5.0)
    assert buy_at_ask.is_taker and sell_at_bid.is_taker and not buy_at_bid.is_taker
    assert "fee 10.0" in (await gw.submit(buy_at_ask)).reasons[0][1]  # taker 10+1 = 11 > 5
    assert (await gw.submit(sell_at_bid)).denied
    assert not (await gw.submit(buy_at_bid)).denied  # resting at our own best: maker 2+1 = 3 < 5


def test_56_heatmap_png_is_a_real_image_whose_cells_carry_the_shares(tmp_path: Path) -> None:
    import matplotlib
    from PIL import Image

    from quantops_trading.risk.heatmap import OVER_CAP, render_png

    gw, _, _ = gateway(permissive(concentration_cap=0.4, risk_budget=1000.0))
    gw.on_fill("alpha", fill("buy", "3", "100"))  # 30% of 1000
    gw.on_fill("beta", fill("buy", "2", "50", pair="ETH/USDT"))  # 10%
    gw.on_fill("beta", fill("buy", "1", "100"))  # 10% of BTC/USDT
    gw.on_price("BTC/USDT", Decimal(200))  # gross 900 < budget: alpha 600/1000 is over the 40% cap
    data = concentration_heatmap(gw.book, gw.global_policy)
    assert data["over_cap"] == ["BTC/USDT"]
    out = tmp_path / "heat.png"
    centres = render_png(data, out, dpi=80)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(out).convert("RGB")
    # figsize (2 + 1.2·pairs, 1.5 + 0.6·strategies) inches at 80 dpi
    assert img.size == (round((2 + 1.2 * 2) * 80), round((1.5 + 0.6 * 2) * 80))
    assert len(img.getcolors(maxcolors=1 << 20) or []) > 20  # a drawing, not a blank canvas
    reds = matplotlib.colormaps["Reds"]

    def expected(v: float) -> tuple[int, int, int]:
        if v > data["cap"]:
            h = OVER_CAP.lstrip("#")
            return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))
        r, g, b, _ = reds(v / data["cap"])
        return (round(r * 255), round(g * 255), round(b * 255))

    seen = {}
    for s in data["strategies"]:
        for p in data["pairs"]:
            v = float(data["cells"][s].get(p, 0.0))
            px = img.getpixel(centres[f"{s}|{p}"])
            assert isinstance(px, tuple)
            assert all(abs(a - b) <= 3 for a, b in zip(px, expected(v), strict=True)), (s, p, v, px)
            seen[(s, p)] = px
    assert data["cells"]["alpha"]["BTC/USDT"] == 0.6 and seen[("alpha", "BTC/USDT")] == expected(0.6)
    assert len({seen[("beta", "BTC/USDT")], seen[("beta", "ETH/USDT")], seen[("alpha", "ETH/USDT")]}) == 3


async def test_one_orders_quantity_and_notional_are_capped_but_an_exit_never_is() -> None:
    policy = permissive(max_order_quantity={"BTC/USDT": 2.0}, max_order_notional=500.0)
    gw, _, _ = gateway(policy)
    d = await gw.submit(req("buy", "3", price="1"))  # a glitch price: 3 units for 3 USDT
    assert d.denied
    assert d.reasons[0] == ("order_size", "BTC/USDT order quantity 3 exceeds maxOrderQuantity 2.0")
    d = await gw.submit(req("buy", "1", price="600"))
    assert d.denied and d.reasons[0] == ("order_size", "order notional 600.00 exceeds maxOrderNotional 500.0")
    assert not (await gw.submit(req("buy", "1", pair="ETH/USDT", price="400"))).denied  # no cap for ETH
    gw.on_fill("alpha", fill("buy", "2", "100"))
    gw.on_fill("alpha", fill("buy", "2", "100"))
    assert not (await gw.submit(req("sell", "4", reduce_only=True))).denied  # the exit is not capped
