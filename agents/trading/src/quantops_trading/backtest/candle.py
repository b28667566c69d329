"""The vectorised candle lane: long/flat positions from bar signals, filled at the next bar's open.

Why it exists: most COLD-stage evidence is candles, and the pipeline runs every candidate over
months of bars every few minutes; a per-bar Python loop would dominate that. Here the whole path
is array arithmetic (no per-bar Python except for callback strategies, see ``signals.py``).

Execution model (documented in docs/backtesting.md, checked against vectorbt and backtesting.py):

* a decision on bar ``t`` (known at its close) fills at ``open[t+1]``; a decision on the last bar
  never fills; positions are long or flat, one at a time;
* an entry commits ``size_fraction`` of free cash: ``qty = φ·cash / (open·(1+s)·(1+f))`` — fractional
  quantities, the fee ``f`` is charged on notional on top (vectorbt's ``fees`` semantics);
* an exit sells the whole position at ``open·(1-s)`` and receives ``qty·price·(1-f)``;
* equity is marked at every bar's close: ``cash + qty·close``. A position still open at the end
  stays open (marked, not liquidated) and counts as a trade.

The position flips only on bars that decide (one pass over the signals finds them; everything
after works on those few). Because every entry invests a fixed fraction of cash, each round trip
multiplies cash by ``1 - φ + φ·(exit·(1-f)) / (entry·(1+f))``; a cumulative product over round
trips gives cash before every entry, from which quantities follow, and the equity curve is a step
function (cash, or quantity times ``close``) repeated over the segments between fills.

What it must not do: read ``open[t+1]`` or any later value to decide bar ``t`` (decisions come from
``signals.py``, which sees bars up to ``t`` only).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from itertools import cycle, repeat
from typing import cast

import numpy as np
import polars as pl

from quantops_trading.backtest.bars import CandleArrays, IntArray, candle_arrays
from quantops_trading.backtest.fingerprint import fingerprint_strategy, start_fingerprint_data
from quantops_trading.backtest.signals import BoolArray, SignalFunction, strategy_signals
from quantops_trading.backtest.types import (
    BacktestConfig,
    BacktestOrder,
    BacktestResult,
    FloatArray,
    max_drawdown,
    sharpe,
)
from quantops_trading.strategy.base import Strategy

__all__ = ["CandleRun", "run_candle", "simulate_targets", "strategy_fingerprint_of"]


class CandleRun:
    """Raw arrays of one candle simulation (before orders/metrics are assembled).

    ``fills`` are the fill bars in time order (buy, sell, buy, …); ``buy_idx``/``sell_idx`` are
    its even and odd entries. ``notional`` is the traded notional, ``fees`` what it paid.
    """

    __slots__ = ("buy_idx", "buy_px", "equity", "fees", "fills", "notional", "qty", "sell_idx", "sell_px")

    def __init__(
        self,
        equity: FloatArray,
        fills: IntArray,
        buy_px: FloatArray,
        sell_px: FloatArray,
        qty: FloatArray,
        notional: float,
        fees: float,
    ) -> None:
        self.equity, self.fills, self.buy_idx, self.sell_idx = equity, fills, fills[0::2], fills[1::2]
        self.buy_px, self.sell_px, self.qty = buy_px, sell_px, qty
        self.notional, self.fees = notional, fees


def _fill_bars(entries: BoolArray, exits: BoolArray) -> IntArray:
    """Bars where the position flips (buy, sell, buy, …): the bar after each deciding bar.

    A bar decides when exactly one of ``entries``/``exits`` is set; the position starts flat and
    follows the latest decision, so it flips only where a decision differs from the one before.
    Everything after the first pass runs on the deciding bars only (a few per thousand bars).
    """
    n = entries.shape[0]
    decide = np.flatnonzero(entries != exits)
    if decide.shape[0] and decide[-1] == n - 1:
        decide = decide[:-1]  # a decision on the last bar never fills
    want = entries[decide]  # True: long after that bar, False: flat
    flip = np.empty_like(want)
    flip[:1] = want[:1]  # from flat, only a long decision flips
    np.not_equal(want[1:], want[:-1], out=flip[1:])
    return decide[flip] + 1


def _simulate(
    open_: FloatArray, close: FloatArray, entries: BoolArray, exits: BoolArray, config: BacktestConfig
) -> CandleRun:
    n = close.shape[0]
    f, s, phi, cash0 = config.fee_rate, config.candle_slippage, config.size_fraction, config.init_cash
    fills = _fill_bars(entries, exits)
    buy_idx, sell_idx = fills[0::2], fills[1::2]
    buy_px = open_[buy_idx] * (1.0 + s)
    sell_px = open_[sell_idx] * (1.0 - s)
    closed, nb = sell_idx.shape[0], buy_idx.shape[0]
    mult = 1.0 - phi + phi * (sell_px * (1.0 - f)) / (buy_px[:closed] * (1.0 + f))
    cash_before = cash0 * np.concatenate(([1.0], np.cumprod(mult)))  # cash before entry k
    qty = phi * cash_before[:nb] / (buy_px * (1.0 + f))
    # Equity is piecewise: between fills, cash and quantity are constant. Build the step
    # functions by repeating each segment's level over its length (no per-bar index gathers).
    lengths = np.diff(fills, prepend=0, append=n)  # segments alternate flat, long, flat, …
    nseg = lengths.shape[0]
    if phi == 1.0:
        # A long segment holds no cash (1 - φ = 0), so its equity is qty·close — the same floats
        # as cash + qty·close, with one masked multiply instead of a second step function.
        level = np.empty(nseg)
        level[0::2] = cash_before  # cash0, then the cash after each exit
        level[1::2] = qty
        equity = np.repeat(level, lengths)
        if nb:
            long_ = np.zeros(nseg, dtype=bool)
            long_[1::2] = True
            np.multiply(equity, close, out=equity, where=np.repeat(long_, lengths))
    else:
        cash_lvl = np.empty(nseg)
        qty_lvl = np.zeros(nseg)
        cash_lvl[0::2] = cash_before
        cash_lvl[1::2] = (1.0 - phi) * cash_before[:nb]  # segment after buy k
        qty_lvl[1::2] = qty
        equity = np.repeat(cash_lvl, lengths)
        if nb:
            equity += np.repeat(qty_lvl, lengths) * close
    notional = float(np.dot(qty, buy_px) + np.dot(qty[:closed], sell_px))
    return CandleRun(equity, fills, buy_px, sell_px, qty, notional, f * notional)


def simulate_targets(
    open_: FloatArray, close: FloatArray, target: FloatArray, config: BacktestConfig
) -> CandleRun:
    """Fill targets (1 long, 0 flat, NaN keep) decided at bar closes at the next bars' opens."""
    return _simulate(open_, close, target > 0.5, target <= 0.5, config)


def strategy_fingerprint_of(strategy: Strategy | SignalFunction) -> str:
    """The roadmap-30 fingerprint of a Strategy instance or a signal function/callable."""
    if isinstance(strategy, Strategy):
        cls = type(strategy)
        return fingerprint_strategy(f"{cls.__module__}:{cls.__qualname__}", strategy.params)
    target = strategy if hasattr(strategy, "__qualname__") else type(strategy)
    params = getattr(strategy, "params", None)
    return fingerprint_strategy(
        f"{target.__module__}:{target.__qualname__}", params if isinstance(params, dict) else None
    )


def _orders(run: CandleRun, bars: CandleArrays, cfg: BacktestConfig) -> list[BacktestOrder]:
    """The fills as orders, in time order; columns are built as arrays, rows by C-level calls."""
    fills = run.fills
    price = np.empty(fills.shape[0])
    price[0::2], price[1::2] = run.buy_px, run.sell_px
    qty = np.repeat(run.qty, 2)[: fills.shape[0]]
    rows = zip(
        (bars.ts_ms[fills] / 1000.0).tolist(),
        repeat(cfg.symbol),
        cycle(("buy", "sell")),
        qty.tolist(),
        price.tolist(),
        (qty * price * cfg.fee_rate).tolist(),  # the same product, in the same order, as q·px·f
        fills.tolist(),
        repeat(cfg.expected_edge_bps),
    )
    # tuple.__new__ builds each NamedTuple without a Python-level __new__ call per order. The
    # cycle collector is paused meanwhile: tuples of numbers and strings cannot form cycles, and
    # its passes over tens of thousands of new tuples cost as much as building them.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return cast(list[BacktestOrder], list(map(tuple.__new__, repeat(BacktestOrder), rows)))
    finally:
        if enabled:
            gc.enable()


def run_candle(
    strategy: Strategy | SignalFunction,
    bars: pl.DataFrame,
    config: BacktestConfig | None = None,
    *,
    data_fingerprint: str | None = None,
    strategy_fingerprint: str | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` on ``bars`` (ts_ms, open, high, low, close[, volume]); see module doc.

    Fingerprints are computed unless given (the pipeline passes them when it already has them);
    the data's is hashed on worker threads while the bars are simulated.
    """
    cfg = config or BacktestConfig()
    arrays = candle_arrays(bars)
    # The data's sha256 runs on the hashing threads while the bars are simulated.
    given = data_fingerprint
    data_fp: Callable[[], str] = (lambda: given) if given else start_fingerprint_data(bars)
    entries, exits = strategy_signals(strategy, arrays, cfg.instrument)
    run = _simulate(arrays.open, arrays.close, entries, exits, cfg)
    final = float(run.equity[-1])
    notes: tuple[str, ...] = ()
    if run.buy_idx.shape[0] > run.sell_idx.shape[0]:
        notes = (f"position opened at bar {int(run.buy_idx[-1])} still open at the end (marked at close)",)
    return BacktestResult(
        strategy_fingerprint=strategy_fingerprint or strategy_fingerprint_of(strategy),
        data_fingerprint=data_fp(),
        lane="candle",
        trades=int(run.buy_idx.shape[0]),
        final_equity=final,
        total_return=final / cfg.init_cash - 1.0,
        max_drawdown=max_drawdown(run.equity),
        turnover=run.notional / cfg.init_cash,
        sharpe=sharpe(run.equity, float(arrays.bar_ms)),
        equity=run.equity,
        orders=_orders(run, arrays, cfg),
        fees_paid=run.fees,
        notes=notes,
    )
