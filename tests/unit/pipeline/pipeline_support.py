"""Shared helpers of the pipeline unit tests.

``ProfileEvaluator`` is a test double of the pipeline's Evaluator protocol (the real one is the
candle lane, exercised in test_pipeline_real_data.py): it returns a fixed metric profile per
strategy name and records every call, so decision logic can be tested without backtests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from quantops_api import StrategySpec
from quantops_trading.pipeline.data import CandleFiles
from quantops_trading.pipeline.evaluator import Evaluation, OrderRecord
from quantops_trading.pipeline.fingerprint import code_fingerprint, data_fingerprint

MOMENTUM = "quantops_trading.strategies.momentum:Momentum"


def bars(n: int = 3000, seed: int = 0, drift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(drift, 0.002, n)))
    ts = np.arange(n, dtype=np.int64) * 300_000 + 1_500_000_000_000
    return pl.DataFrame(
        {"ts_ms": ts, "open": close, "high": close * 1.001, "low": close * 0.999, "close": close,
         "volume": np.ones(n)}
    )  # fmt: skip


def spec(pair: str = "AAA/BBB", **kw: Any) -> StrategySpec:
    base: dict[str, Any] = {
        "entrypoint": MOMENTUM, "pairs": [pair], "params": {"fast": 12, "slow": 48},
        "desiredStage": "HOT",
        "promotion": {"minTrades": 10, "minSharpe": 0.5, "maxDrawdown": 0.3, "minWarmHours": 0},
    }  # fmt: skip
    base.update(kw)
    return StrategySpec.model_validate(base)


@dataclass
class Profile:
    trades: int = 40
    sharpe: float = 2.0
    drawdown: float = 0.1
    slope: float = 0.0005  # per-bar equity growth (positive → every split passes)
    fail: list[BaseException] = field(default_factory=list)  # raised (in order) before succeeding
    active_until: float = 1.0  # orders only in the first fraction of the window (0.1 → "dead" lately)


class ProfileEvaluator:
    def __init__(self, profiles: dict[str, Profile]) -> None:
        self.profiles = profiles
        self.calls: list[tuple[str, int]] = []

    def evaluate(
        self, name: str, entrypoint: str, params: Mapping[str, Any], bars: pl.DataFrame, pair: str
    ) -> Evaluation:
        self.calls.append((name, bars.height))
        p = self.profiles[name.split("~")[0]]
        if p.fail:
            raise p.fail.pop(0)
        n = bars.height
        eq = 10_000 * np.exp(p.slope * np.arange(n) + 0.0001 * np.sin(np.arange(n)))
        ts = bars["ts_ms"].to_list()
        orders = tuple(
            OrderRecord(ts[i] / 1000, f"{pair}@backtest", "buy" if k % 2 == 0 else "sell", 1.0, 100.0 + k % 2)
            for k, i in enumerate(
                range(0, int(n * p.active_until), max(1, int(n * p.active_until) // max(1, p.trades * 2)))
            )
        )[: p.trades * 2]
        return Evaluation(
            code_fingerprint(entrypoint, params), data_fingerprint(bars), n, p.trades,
            float(eq[-1] / eq[0] - 1),
            p.drawdown, p.sharpe, 1.0, tuple(float(x) for x in eq), orders, 300_000,
        )  # fmt: skip


class FrameData(CandleFiles):
    """CandleFiles over in-memory frames (the real-data test uses files from /work/shared/data)."""

    def __init__(self, frames: dict[str, pl.DataFrame]) -> None:
        super().__init__({p: f"memory:{p}" for p in frames})
        self.frames = frames

    def bars(self, pair: str) -> pl.DataFrame:
        return self.frames[pair]
