"""How the candle lane gets long/flat targets: from a vectorised signal function or a Strategy.

Why it exists: the candle lane is vectorised, but the project's strategies are bar callbacks
(``Strategy.on_bar``). Three sources are accepted, fastest first:

1. a **signal function** ``f(CandleArrays) -> (entries, exits)`` (boolean arrays, one per bar,
   decided on that bar's close) — e.g. :class:`MaCrossover`, used for parity and benchmarks;
2. a Strategy with a vectorised ``signals(bars: CandleArrays) -> (entries, exits)`` method
   (optional protocol, :class:`VectorisedStrategy`);
3. any other Strategy: ``on_bar`` is called for every bar in order (exactly what the runtime
   does), and its outputs are read as targets — a :class:`Signal` with ``value > 0`` means long,
   ``value <= 0`` flat; an :class:`Intent` buy means long, sell flat. The lanes are long-only
   (a short target is flat); bars without output keep the previous target.

The lane runs on ``(entries, exits)`` boolean arrays (:func:`strategy_signals`; a bar with both or
neither decides nothing); :func:`strategy_targets` gives the same decisions as one ``target`` array
(1.0 long, 0.0 flat, NaN = no decision on that bar).

What it must not do: look at a bar after the one being decided on — the callback path only ever
hands the strategy bars up to t, and signal functions are checked by the look-ahead tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from quantops_trading.backtest.bars import CandleArrays
from quantops_trading.backtest.types import FloatArray
from quantops_trading.execution.types import Side
from quantops_trading.strategy.base import Bar, Intent, Signal, Strategy, StrategyContext

__all__ = [
    "BoolArray",
    "MaCrossover",
    "SignalFunction",
    "VectorisedStrategy",
    "sma",
    "strategy_signals",
    "strategy_targets",
    "targets_from_signals",
]

BoolArray = npt.NDArray[np.bool_]
SignalFunction = Callable[[CandleArrays], tuple[BoolArray, BoolArray]]


@runtime_checkable
class VectorisedStrategy(Protocol):
    """A Strategy that can also decide all bars at once (same decisions as ``on_bar``)."""

    def signals(self, bars: CandleArrays) -> tuple[BoolArray, BoolArray]: ...


def _window_sums(x: FloatArray) -> FloatArray:
    """``c[i] = x[0] + … + x[i-1]`` (``c[0] = 0``): window sums are differences of two entries."""
    c = np.empty(x.shape[0] + 1)
    c[0] = 0.0
    np.cumsum(x, out=c[1:])
    return c


def sma(x: FloatArray, n: int) -> FloatArray:
    """Simple moving average over ``n`` values ending at each index (NaN before ``n - 1``)."""
    out = np.full(x.shape[0], np.nan)
    if n <= x.shape[0]:
        c = _window_sums(x)
        out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


class MaCrossover:
    """Plain SMA crossover: enter when fast crosses above slow, exit when it crosses below.

    ``entries[t]`` = ``fast[t] > slow[t] and fast[t-1] <= slow[t-1]`` (both defined); exits mirror
    it. Used as the common workload of the parity tests and the benchmark.
    """

    def __init__(self, fast: int = 10, slow: int = 30) -> None:
        if not 1 <= fast < slow:
            raise ValueError(f"MaCrossover: need 1 <= fast < slow, got fast={fast} slow={slow}")
        self.params: dict[str, Any] = {"fast": fast, "slow": slow}

    def __call__(self, bars: CandleArrays) -> tuple[BoolArray, BoolArray]:
        close = bars.close
        n, f, s = close.shape[0], self.params["fast"], self.params["slow"]
        entries, exits = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        if n <= s:  # at most one bar with both averages defined: no crossing yet
            return entries, exits
        # Both averages on the bars where the slow one is defined (s-1 .. n-1), from one cumsum;
        # the same arithmetic as ``sma``, so the values are bit-identical to it.
        c = _window_sums(close)
        top = c[s:]
        fast = (top - c[s - f : n + 1 - f]) / f
        slow = (top - c[: n + 1 - s]) / s
        above, below = fast > slow, fast < slow
        np.greater(above[1:], above[:-1], out=entries[s:])  # above now, not on the previous bar
        np.greater(below[1:], below[:-1], out=exits[s:])
        return entries, exits


def _checked(entries: BoolArray, exits: BoolArray, n: int) -> tuple[BoolArray, BoolArray]:
    e, x = np.asarray(entries, dtype=bool), np.asarray(exits, dtype=bool)
    for name, a in (("entries", e), ("exits", x)):
        if a.shape != (n,):
            raise ValueError(f"signals.{name}: expected shape ({n},), got {a.shape}")
    return e, x


def targets_from_signals(entries: BoolArray, exits: BoolArray, n: int) -> FloatArray:
    """1.0 on entry bars, 0.0 on exit bars, NaN elsewhere (both on one bar: no decision)."""
    e, x = _checked(entries, exits, n)
    target = np.full(n, np.nan)
    target[e & ~x] = 1.0
    target[x & ~e] = 0.0
    return target


def _callback_targets(strategy: Strategy, bars: CandleArrays, instrument: str) -> FloatArray:
    if strategy.context is None:
        strategy.on_start(StrategyContext(strategy.strategy_id, (instrument,)))
    bar_ms = bars.bar_ms
    n = len(bars)
    target = np.full(n, np.nan)
    ts, o, h, lo, c, v = (
        bars.ts_ms.tolist(), bars.open.tolist(), bars.high.tolist(),
        bars.low.tolist(), bars.close.tolist(), bars.volume.tolist(),
    )  # fmt: skip
    for i in range(n):
        # The strategy sees a bar when it closes: Bar.ts_ms is the close time.
        outputs = strategy.on_bar(Bar(instrument, ts[i] + bar_ms, o[i], h[i], lo[i], c[i], v[i]))
        for out in outputs:
            if isinstance(out, Signal):
                target[i] = 1.0 if out.value > 0 else 0.0
            elif isinstance(out, Intent):
                target[i] = 1.0 if out.side is Side.BUY else 0.0
    return target


def strategy_targets(strategy: Strategy | SignalFunction, bars: CandleArrays, instrument: str) -> FloatArray:
    """The per-bar target (1 long, 0 flat, NaN none) of any accepted strategy source."""
    if isinstance(strategy, Strategy) and not isinstance(strategy, VectorisedStrategy):
        return _callback_targets(strategy, bars, instrument)
    return targets_from_signals(*strategy_signals(strategy, bars, instrument), len(bars))


def strategy_signals(
    strategy: Strategy | SignalFunction, bars: CandleArrays, instrument: str
) -> tuple[BoolArray, BoolArray]:
    """Per-bar ``(entries, exits)`` of any accepted source; a bar with both or neither decides nothing.

    What the candle lane runs on: signal sources hand their arrays through (shape-checked), so no
    per-bar target array is built; callback strategies' targets become ``target > 0.5`` (long) and
    ``target <= 0.5`` (flat), NaN neither.
    """
    if isinstance(strategy, Strategy):
        if isinstance(strategy, VectorisedStrategy):
            return _checked(*strategy.signals(bars), len(bars))
        target = _callback_targets(strategy, bars, instrument)
        return target > 0.5, target <= 0.5
    if callable(strategy):
        return _checked(*strategy(bars), len(bars))
    raise TypeError(f"strategy: expected a Strategy or a signal function, got {type(strategy).__name__}")
