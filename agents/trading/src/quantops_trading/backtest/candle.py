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

Because every entry invests a fixed fraction of cash, each round trip multiplies cash by
``1 - φ + φ·(exit·(1-f)) / (entry·(1+f))``; a cumulative product over round trips gives cash
before every entry, from which quantities and the equity curve follow with index gathers.

What it must not do: read ``open[t+1]`` or any later value to decide bar ``t`` (decisions come from
``signals.py``, which sees bars up to ``t`` only).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from quantops_trading.backtest.bars import CandleArrays, candle_arrays
from quantops_trading.backtest.fingerprint import fingerprint_data, fingerprint_strategy
from quantops_trading.backtest.signals import SignalFunction, strategy_targets
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
    """Raw arrays of one candle simulation (before orders/metrics are assembled)."""

    __slots__ = ("buy_idx", "buy_px", "equity", "fees", "qty", "sell_idx", "sell_px")

    def __init__(
        self,
        equity: FloatArray,
        buy_idx: np.ndarray,
        sell_idx: np.ndarray,
        buy_px: FloatArray,
        sell_px: FloatArray,
        qty: FloatArray,
        fees: float,
    ) -> None:
        self.equity, self.buy_idx, self.sell_idx = equity, buy_idx, sell_idx
        self.buy_px, self.sell_px, self.qty, self.fees = buy_px, sell_px, qty, fees


def simulate_targets(
    open_: FloatArray, close: FloatArray, target: FloatArray, config: BacktestConfig
) -> CandleRun:
    """Fill targets (1 long, 0 flat, NaN keep) decided at bar closes at the next bars' opens."""
    n = close.shape[0]
    f, s, phi, cash0 = config.fee_rate, config.candle_slippage, config.size_fraction, config.init_cash
    # Forward-fill the decisions (initially flat), then shift by one bar: held[t] = decided by t-1.
    t = target.copy()
    if n and np.isnan(t[0]):
        t[0] = 0.0
    have = ~np.isnan(t)
    idx = np.arange(n)
    idx[~have] = 0
    np.maximum.accumulate(idx, out=idx)
    held = np.empty(n, dtype=bool)
    held[0] = False
    np.greater(t[idx[:-1]], 0.5, out=held[1:])
    change = np.diff(held.view(np.int8), prepend=np.int8(0))
    buy_idx = np.flatnonzero(change > 0)
    sell_idx = np.flatnonzero(change < 0)
    buy_px = open_[buy_idx] * (1.0 + s)
    sell_px = open_[sell_idx] * (1.0 - s)
    closed = sell_idx.shape[0]
    mult = 1.0 - phi + phi * (sell_px * (1.0 - f)) / (buy_px[:closed] * (1.0 + f))
    cash_before = cash0 * np.concatenate(([1.0], np.cumprod(mult)))  # cash before entry k
    qty = phi * cash_before[: buy_idx.shape[0]] / (buy_px * (1.0 + f))
    # Equity is piecewise: between fills, cash and quantity are constant. Build both step
    # functions by repeating each segment's level over its length (no per-bar index gathers).
    bounds = np.flatnonzero(change)  # fill bars, alternating buy/sell, starting with a buy
    lengths = np.diff(np.concatenate(([0], bounds, [n])))
    nseg = lengths.shape[0]
    cash_lvl = np.empty(nseg)
    qty_lvl = np.zeros(nseg)
    cash_lvl[0] = cash0
    nb = buy_idx.shape[0]
    cash_lvl[1::2] = (1.0 - phi) * cash_before[:nb]  # segment after buy k
    cash_lvl[2::2] = cash_before[1 : closed + 1]  # segment after sell k
    qty_lvl[1::2] = qty
    equity = np.repeat(cash_lvl, lengths)
    if nb:
        equity += np.repeat(qty_lvl, lengths) * close
    fees = float(f * (np.dot(qty, buy_px) + np.dot(qty[:closed], sell_px)))
    return CandleRun(equity, buy_idx, sell_idx, buy_px, sell_px, qty, fees)


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
    sym, f, edge = cfg.symbol, cfg.fee_rate, cfg.expected_edge_bps
    qty, bi, si = run.qty.tolist(), run.buy_idx, run.sell_idx
    buys = zip((bars.ts_ms[bi] / 1000.0).tolist(), bi.tolist(), run.buy_px.tolist(), qty, strict=True)
    sells = zip((bars.ts_ms[si] / 1000.0).tolist(), si.tolist(), run.sell_px.tolist(), qty, strict=False)
    bought = [BacktestOrder(t, sym, "buy", q, px, q * px * f, i, edge) for t, i, px, q in buys]
    sold = [BacktestOrder(t, sym, "sell", q, px, q * px * f, i, edge) for t, i, px, q in sells]
    out = [o for pair in zip(bought, sold, strict=False) for o in pair]
    return out + bought[len(sold) :]


def run_candle(
    strategy: Strategy | SignalFunction,
    bars: pl.DataFrame,
    config: BacktestConfig | None = None,
    *,
    data_fingerprint: str | None = None,
    strategy_fingerprint: str | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` on ``bars`` (ts_ms, open, high, low, close[, volume]); see module doc.

    Fingerprints are computed unless given (the pipeline passes them when it already has them).
    """
    cfg = config or BacktestConfig()
    arrays = candle_arrays(bars)
    target = strategy_targets(strategy, arrays, cfg.instrument)
    run = simulate_targets(arrays.open, arrays.close, target, cfg)
    notional = float(np.dot(run.qty, run.buy_px) + np.dot(run.qty[: run.sell_idx.shape[0]], run.sell_px))
    final = float(run.equity[-1])
    notes: tuple[str, ...] = ()
    if run.buy_idx.shape[0] > run.sell_idx.shape[0]:
        notes = (f"position opened at bar {int(run.buy_idx[-1])} still open at the end (marked at close)",)
    return BacktestResult(
        strategy_fingerprint=strategy_fingerprint or strategy_fingerprint_of(strategy),
        data_fingerprint=data_fingerprint or fingerprint_data(bars),
        lane="candle",
        trades=int(run.buy_idx.shape[0]),
        final_equity=final,
        total_return=final / cfg.init_cash - 1.0,
        max_drawdown=max_drawdown(run.equity),
        turnover=notional / cfg.init_cash,
        sharpe=sharpe(run.equity, float(arrays.bar_ms)),
        equity=run.equity,
        orders=_orders(run, arrays, cfg),
        fees_paid=run.fees,
        notes=notes,
    )
