"""Built-in strategies on real shared data: sensible decisions and no look-ahead (truncation tests).

A truncation test runs a fresh strategy on the whole file and another on the file cut at ``t``;
every decision made on data up to ``t`` must be byte-identical in both runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest
from strat_support import (
    ETH_BTC_1M,
    PERP_ID,
    SPOT_BOOK,
    SPOT_ID,
    XRP_ETH_1M,
    bars,
    books,
    decisions_until,
    merged_books,
    run,
)

from quantops_trading.execution.types import Side
from quantops_trading.model.ids import InstrumentId
from quantops_trading.model.orders import Fill, OrderSide
from quantops_trading.strategies import CrossVenueSpread, MarketMaking, MeanReversion, Momentum
from quantops_trading.strategy import Bar, BookSnapshot, Intent, Signal, Strategy

ETH = "ETH/BTC@bittrex"


def _momentum() -> Strategy:
    return Momentum(Momentum.Params.model_validate({"fast": 12, "slow": 48, "threshold": 0.0005}))


def _meanrev() -> Strategy:
    return MeanReversion(MeanReversion.Params.model_validate({"window": 60, "entryZ": 2.0, "exitZ": 0.5}))


def _spread() -> Strategy:
    return CrossVenueSpread(
        CrossVenueSpread.Params.model_validate(
            {
                "legA": SPOT_ID,
                "legB": PERP_ID,
                "window": 200,
                "entryBps": 0.3,
                "exitBps": 0.1,
                "feeBpsA": 0.0,
                "feeBpsB": 0.0,
            }
        )
    )


def _mm() -> Strategy:
    return MarketMaking(MarketMaking.Params())


def _truncation(
    make: Callable[[], Strategy], events: Sequence[Bar] | Sequence[BookSnapshot], frac: float
) -> None:
    cut = events[int(len(events) * frac)].ts_ms
    full = run(make(), events)
    part = run(make(), [e for e in events if e.ts_ms <= cut])
    assert decisions_until(full, cut) == decisions_until(part, cut)
    assert decisions_until(full, cut), "no decisions before the cut: the test would prove nothing"


@pytest.mark.parametrize("frac", [0.3, 0.77])
def test_strat_momentum_truncation(frac: float) -> None:
    _truncation(_momentum, bars(ETH_BTC_1M, ETH), frac)


@pytest.mark.parametrize("frac", [0.3, 0.77])
def test_strat_meanrev_truncation(frac: float) -> None:
    _truncation(_meanrev, bars(XRP_ETH_1M, "XRP/ETH@binance"), frac)


@pytest.mark.parametrize("frac", [0.4, 0.8])
def test_strat_spread_truncation(frac: float) -> None:
    _truncation(_spread, merged_books(), frac)


@pytest.mark.parametrize("frac", [0.35, 0.9])
def test_strat_mm_truncation(frac: float) -> None:
    _truncation(_mm, list(books(SPOT_BOOK, SPOT_ID)), frac)


def test_strat_momentum_follows_the_trend_of_real_bars() -> None:
    out = [o for o in run(_momentum(), bars(ETH_BTC_1M, ETH)) if isinstance(o, Signal)]
    assert len(out) == 14397 - 47
    longs = [o for o in out if o.value > 0]
    assert longs and all(o.attribution["gap"] > 0.0005 for o in longs)
    assert all(o.attribution["gap"] < -0.0005 for o in out if o.value < 0)
    assert any(o.value == 0 for o in out)
    strong = max(out, key=lambda o: abs(o.attribution["gap"]))
    assert strong.confidence > 0.9


def test_strat_meanrev_enters_beyond_entry_and_exits_inside_exit() -> None:
    out = [o for o in run(_meanrev(), bars(ETH_BTC_1M, ETH)) if isinstance(o, Signal)]
    entries = [o for o in out if o.reason.startswith("fade")]
    exits = [o for o in out if o.reason == "reverted"]
    assert entries and exits
    assert all(abs(o.attribution["zscore"]) > 2.0 for o in entries)
    assert all(abs(o.attribution["zscore"]) < 0.5 and o.value == 0 for o in exits)
    assert all((o.value < 0) == (o.attribution["zscore"] > 0) for o in entries)


def test_strat_meanrev_entries_claim_the_move_back_to_the_exit_band_as_edge() -> None:
    """edge_bps = (|z| - exitZ) · std / close, recomputed here from the window the strategy saw."""
    ladder = [100.0 + 0.1 * (i % 5) for i in range(59)]
    closes = [*ladder, 103.0]  # a spike far above the window: z > entryZ, fade it
    out = run(_meanrev(), [Bar(ETH, i * 60_000, c, c, c, c) for i, c in enumerate(closes)])
    (sig,) = [o for o in out if isinstance(o, Signal)]
    assert sig.reason == "fade rich" and sig.value == -1.0
    mean = sum(closes) / 60
    std = (sum((x - mean) ** 2 for x in closes) / 59) ** 0.5
    z = (103.0 - mean) / std
    assert sig.attribution["zscore"] == pytest.approx(z)
    assert sig.attribution["edge_bps"] == pytest.approx((z - 0.5) * std / 103.0 * 1e4)
    flat = [o for o in run(_meanrev(), bars(ETH_BTC_1M, ETH)) if isinstance(o, Signal) and o.value == 0]
    assert flat and all(o.attribution["edge_bps"] == 0.0 for o in flat)  # nothing to capture when flat


def test_trader_edge_is_the_strategy_s_own_else_the_trend_gap() -> None:
    from quantops_trading.runtime.trader_role import expected_edge_bps

    assert expected_edge_bps({"edge_bps": -12.5, "gap": 0.5}) == 12.5
    assert expected_edge_bps({"gap": -0.0007}) == pytest.approx(7.0)
    assert expected_edge_bps({"zscore": 3.0}) == 0.0


def test_strat_spread_trades_both_legs_opposite_and_unwinds() -> None:
    out = [o for o in run(_spread(), merged_books()) if isinstance(o, Intent)]
    assert len(out) >= 4 and len(out) % 2 == 0
    for a, b in zip(out[::2], out[1::2], strict=True):
        assert (a.tag, b.tag) == ("leg-a", "leg-b") and a.side != b.side and a.reduce_only == b.reduce_only
        if not a.reduce_only:
            assert a.attribution["edge_bps"] > 0.3
            assert (a.side is Side.SELL) == (a.attribution["dev_bps"] > 0)
    assert any(o.reduce_only for o in out)


def test_strat_mm_quotes_are_passive_and_inventory_bounded() -> None:
    mm = MarketMaking(MarketMaking.Params.model_validate({"maxInventory": "0.002", "quoteSize": "0.001"}))
    snaps = list(books(SPOT_BOOK, SPOT_ID))[:2000]
    by_ts = {b.ts_ms: b for b in snaps}
    out = [o for o in run(mm, snaps) if isinstance(o, Intent)]
    assert out and len(out) < len(snaps)  # requotes are throttled
    for o in out:
        book = by_ts[o.ts_ms]
        assert o.post_only and o.price is not None
        assert (
            (o.price <= Decimal(repr(book.best_bid)))
            if o.side is Side.BUY
            else (o.price >= Decimal(repr(book.best_ask)))
        )
    fill = Fill(
        client_order_id="c1",
        instrument_id=InstrumentId(SPOT_ID),
        side=OrderSide.BUY,
        price=Decimal(60000),
        quantity=Decimal("0.002"),
        ts_ns=1,
    )
    mm.on_fill(fill)
    after = [o for o in mm.on_book(snaps[-1]) if isinstance(o, Intent)]
    assert [o.side for o in after] == [Side.SELL]  # at max inventory: no more bids, skewed ask
    assert after[0].attribution["fair"] < snaps[-1].microprice
