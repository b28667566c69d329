"""Backtest lanes (roadmap 22) and run fingerprints (roadmap 30).

* :func:`run_candle` — vectorised over bars, next-bar-open execution, fees and slippage;
* :func:`run_non_candle` — event-driven over L2 updates through the live RiskGateway and the venue
  simulator's matching engine, in-process;
* :func:`compare` — the two side by side with the divergences explained (Markdown render);
* :func:`fingerprint_strategy` / :func:`fingerprint_data` — stable sha256 hex ids on every result.

docs/backtesting.md states the execution model and how it differs from vectorbt and backtesting.py.
"""

from quantops_trading.backtest.bars import CandleArrays, bars_from_book, candle_arrays
from quantops_trading.backtest.candle import run_candle, simulate_targets, strategy_fingerprint_of
from quantops_trading.backtest.compare import CompareReport, Divergence, compare
from quantops_trading.backtest.events import BookArrays, book_arrays
from quantops_trading.backtest.fingerprint import fingerprint_data, fingerprint_strategy
from quantops_trading.backtest.inprocess_venue import InProcessVenue, backtest_policy
from quantops_trading.backtest.non_candle import run_non_candle
from quantops_trading.backtest.signals import MaCrossover, SignalFunction, VectorisedStrategy, sma
from quantops_trading.backtest.types import BacktestConfig, BacktestOrder, BacktestResult

__all__ = [
    "BacktestConfig",
    "BacktestOrder",
    "BacktestResult",
    "BookArrays",
    "CandleArrays",
    "CompareReport",
    "Divergence",
    "InProcessVenue",
    "MaCrossover",
    "SignalFunction",
    "VectorisedStrategy",
    "backtest_policy",
    "bars_from_book",
    "book_arrays",
    "candle_arrays",
    "compare",
    "fingerprint_data",
    "fingerprint_strategy",
    "run_candle",
    "run_non_candle",
    "simulate_targets",
    "sma",
    "strategy_fingerprint_of",
]
