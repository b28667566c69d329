"""The default :class:`~quantops_trading.pipeline.evaluator.Evaluator`: the candle backtest lane.

Why it exists: the pipeline's evidence must come from the same backtest code the parity tests hold
against vectorbt and backtesting.py (``backtest.run_candle``). A fresh strategy instance is loaded
for every run (strategies keep state), through the contained loader, so a bad entrypoint or params
become a deterministic failure with the loader's reason instead of a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from quantops_trading.backtest import BacktestConfig, run_candle
from quantops_trading.pipeline.evaluator import Evaluation, OrderRecord
from quantops_trading.pipeline.fingerprint import code_fingerprint, data_fingerprint
from quantops_trading.pipeline.flags import RunFlags
from quantops_trading.pipeline.retry import DeterministicFailure
from quantops_trading.strategy.loader import LoadedStrategy, load_strategy

__all__ = ["CandleEvaluator"]


class CandleEvaluator:
    def __init__(self, flags: RunFlags) -> None:
        self.flags = flags
        self.runs = 0

    def evaluate(
        self, name: str, entrypoint: str, params: Mapping[str, Any], bars: pl.DataFrame, pair: str
    ) -> Evaluation:
        loaded = load_strategy(entrypoint, dict(params))
        if not isinstance(loaded, LoadedStrategy):
            raise DeterministicFailure(f"{name}: {loaded.reason}: {loaded.message}")
        cfg = BacktestConfig(
            init_cash=self.flags.init_cash,
            fee_rate=self.flags.fee_rate,
            slippage_bps=self.flags.slippage_bps,
            size_fraction=self.flags.size_fraction,
            instrument=f"{pair}@backtest",
        )
        if bars.height < 3:
            raise DeterministicFailure(f"{name}: {bars.height} bars are too few to backtest")
        self.runs += 1
        res = run_candle(
            loaded.strategy,
            bars,
            cfg,
            data_fingerprint=data_fingerprint(bars),
            strategy_fingerprint=code_fingerprint(entrypoint, params),
        )
        ts = bars["ts_ms"]
        bar_ms = int((ts[-1] - ts[0]) / max(1, bars.height - 1)) if bars.height > 1 else 60_000
        return Evaluation(
            strategy_fingerprint=res.strategy_fingerprint,
            data_fingerprint=res.data_fingerprint,
            bars=bars.height,
            trades=res.trades,
            total_return=res.total_return,
            max_drawdown=res.max_drawdown,
            sharpe=res.sharpe,
            turnover=res.turnover,
            equity=tuple(float(x) for x in res.equity),
            orders=tuple(OrderRecord(o.ts, o.instrument, o.side, o.qty, o.price) for o in res.orders),
            bar_ms=bar_ms,
            extra={"final_equity": res.final_equity, "fees_paid": res.fees_paid},
        )
