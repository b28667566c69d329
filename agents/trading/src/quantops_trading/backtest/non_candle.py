"""The event-driven non-candle lane: the strategy, the RiskGateway and the venue's matching engine
in-process over a recorded L2 book stream.

Why it exists: the candle lane fills at a bar's open with a flat cost model; real orders cross a
spread, walk a finite book, are rounded to lot sizes and can be refused by risk. This lane runs
the very same strategy object through the very same components as a live agent —
:class:`~quantops_trading.risk.gateway.RiskGateway` (every rule and kill switch) and
:class:`~quantops_trading.venue.matching.MatchingEngine` (book walking, fees, lot/notional filters,
balances) — on the recorded updates, so the gap between the lanes measures execution reality.

Event model:

* ``events`` is one row per L2 update (``ts_ms``, ``bid_px_i``/``bid_qty_i``/``ask_px_i``/``ask_qty_i``,
  optionally ``last_update_id``), e.g. ``orderbook/*_L2top20_*.csv.gz`` via ``data.loaders.load_feed``;
  ``trades`` (optional, ``ts_ms``, ``amount``) only adds traded volume to the bars.
* Updates are grouped into ``bar_ms`` buckets of the mid price (:func:`bars.bars_from_book` gives the
  candle lane the identical bars). A bar closes when the first update of a later bucket arrives;
  ``on_bar`` is called then, and any order it causes is matched against *that* update's book — the
  first book after the decision, the same instant the candle lane's next-bar-open fill uses.
* Strategies that override ``on_book`` get every update as a :class:`BookSnapshot`; their orders
  match against the next update (one-update latency). This path is per-update Python and slower.
* Targets are long/flat (as in the candle lane). An entry is a marketable limit IOC buy at the
  worst book level its size needs (plus slippage), so no cash margin is left idle; an exit is a
  market sell of the whole base balance. Orders are tried when the target changes; a risk denial
  or venue reject leaves the position as it is and is counted in ``denied``.
* The gateway sees a mark (``on_price``) at every bar close while a position is open and at every
  order; equity is marked at every bar close (quote balance + base balance × mid). Gateway and
  engine live in :mod:`~quantops_trading.backtest.inprocess_venue`.

What it must not do: send anything over a network, or let the strategy see an update before it
happened (decisions at update ``i`` fill at ``i`` only for bar closes, which are known at ``i``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.backtest.candle import strategy_fingerprint_of
from quantops_trading.backtest.events import bar_volume, book_arrays, book_snapshot
from quantops_trading.backtest.fingerprint import fingerprint_data
from quantops_trading.backtest.inprocess_venue import InProcessVenue, backtest_policy
from quantops_trading.backtest.types import BacktestConfig, BacktestResult
from quantops_trading.backtest.types import max_drawdown as _max_drawdown
from quantops_trading.backtest.types import sharpe as _sharpe
from quantops_trading.execution.types import Side
from quantops_trading.risk.events import AuditSink
from quantops_trading.storage.eventlog import EventLog
from quantops_trading.strategy.base import Bar, Intent, Output, Signal, Strategy, StrategyContext

__all__ = ["run_non_candle"]


def _target_of(outputs: Any, current: float | None) -> float | None:
    target = current
    for out in outputs:
        if isinstance(out, Signal):
            target = 1.0 if out.value > 0 else 0.0
        elif isinstance(out, Intent):
            target = 1.0 if out.side is Side.BUY else 0.0
    return target


def run_non_candle(
    strategy: Strategy,
    events: pl.DataFrame,
    config: BacktestConfig | None = None,
    *,
    bar_ms: int = 1_000,
    trades: pl.DataFrame | None = None,
    policy: RiskPolicySpec | None = None,
    strategy_id: str = "backtest",
    tick_size: Decimal = Decimal("0.01"),
    step_size: Decimal = Decimal("0.00001"),
    audit: EventLog | AuditSink | None = None,
    data_fingerprint: str | None = None,
    strategy_fingerprint: str | None = None,
) -> BacktestResult:
    """Run ``strategy`` over the L2 ``events`` through RiskGateway and MatchingEngine (module doc)."""
    cfg = config or BacktestConfig(instrument="BTC/USDT@binance")
    if bar_ms <= 0:
        raise ValueError(f"bar_ms: must be > 0, got {bar_ms}")
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy: the non-candle lane runs Strategy objects, got {type(strategy).__name__}")
    book = book_arrays(events)
    sim = InProcessVenue(book, cfg, policy or backtest_policy(cfg), strategy_id, tick_size, step_size, audit)
    if strategy.context is None:
        strategy.on_start(StrategyContext(strategy_id, (cfg.instrument,)))
    mid = book.mid
    bucket = book.ts_ms // bar_ms
    starts = np.flatnonzero(np.diff(bucket)) + 1 if bucket.size > 1 else np.empty(0, dtype=np.int64)
    starts = np.concatenate(([0], starts)).astype(np.int64)
    ends = np.concatenate((starts[1:], [bucket.size])).astype(np.int64)
    o, hi, lo = mid[starts], np.maximum.reduceat(mid, starts), np.minimum.reduceat(mid, starts)
    c = mid[ends - 1]
    vol = (
        bar_volume(trades, bucket[starts] * bar_ms, bar_ms)
        if trades is not None
        else (ends - starts).astype(float)
    )
    bar_open_ms = bucket[starts] * bar_ms
    nbars = starts.size
    equity = np.empty(nbars)
    held = 0.0
    on_book = type(strategy).on_book is not Strategy.on_book
    pending: tuple[float, list[Output]] | None = None  # on_book decision awaiting the next update

    def act(i: int, target: float | None, outputs: list[Output]) -> None:
        nonlocal held
        conf = float(outputs[-1].confidence) if outputs else 0.5
        gap = float(outputs[-1].attribution.get("gap", 0.0)) if outputs else 0.0
        if target is not None and target != held and sim.trade(i, target > 0.5, conf, gap):
            held = target

    last_target: float | None = None
    # Python lists: the per-bar loop below reads scalars, which numpy hands out slowly.
    o_l, h_l, l_l, c_l, v_l = o.tolist(), hi.tolist(), lo.tolist(), c.tolist(), vol.tolist()
    close_ms, start_l, end_l = (bar_open_ms + bar_ms).tolist(), starts.tolist(), ends.tolist()
    last_ts = book.ts_ms[ends - 1].tolist()
    for j in range(nbars):
        if on_book:
            for i in range(start_l[j], end_l[j]):
                if pending is not None:
                    act(i, pending[0], pending[1])
                    pending = None
                outs = list(strategy.on_book(book_snapshot(book, i, cfg.instrument)))
                t = _target_of(outs, None)
                if t is not None and t != last_target:
                    pending, last_target = (t, outs), t
        bar = Bar(cfg.instrument, close_ms[j], o_l[j], h_l[j], l_l[j], c_l[j], v_l[j])
        outputs: list[Output] = list(strategy.on_bar(bar))
        t = _target_of(outputs, None)
        if sim.qty > 0:
            sim.now_s = last_ts[j] / 1000.0
            sim.mark(c_l[j])
        equity[j] = sim.cash + sim.qty * c_l[j]
        if t is not None and t != last_target:
            last_target = t
            if j + 1 < nbars:  # the bar closes when the next bucket's first update arrives
                act(start_l[j + 1], t, outputs)
    final = float(equity[-1])
    notes = tuple(sim.reasons[:20])
    return BacktestResult(
        strategy_fingerprint=strategy_fingerprint or strategy_fingerprint_of(strategy),
        data_fingerprint=data_fingerprint or fingerprint_data(events),
        lane="non_candle",
        trades=sim.entries,
        final_equity=final,
        total_return=final / cfg.init_cash - 1.0,
        max_drawdown=_max_drawdown(equity),
        turnover=sim.notional / cfg.init_cash,
        sharpe=_sharpe(equity, float(bar_ms)),
        equity=equity,
        orders=sim.orders,
        fees_paid=sim.fees,
        denied=sim.denied,
        notes=notes,
    )
