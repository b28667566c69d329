"""The backtest package's public API is importable and pinned (the pipeline codes against it),
and every module says why it exists and stays within the house size range."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import quantops_trading.backtest as backtest


def test_all_is_importable_and_pinned() -> None:
    for name in backtest.__all__:
        assert getattr(backtest, name) is not None, name
    contract = {"BacktestConfig", "BacktestResult", "run_candle", "run_non_candle", "compare",
                "CompareReport", "fingerprint_strategy", "fingerprint_data"}  # fmt: skip
    assert contract <= set(backtest.__all__)
    cfg = {f.name: f.default for f in dataclasses.fields(backtest.BacktestConfig)}
    assert cfg["init_cash"] == 10_000 and cfg["fee_rate"] == 0.001
    assert cfg["slippage_bps"] == 0.0 and cfg["size_fraction"] == 1.0
    result = {f.name for f in dataclasses.fields(backtest.BacktestResult)}
    assert {"strategy_fingerprint", "data_fingerprint", "lane", "trades", "final_equity", "total_return",
            "max_drawdown", "turnover", "sharpe", "equity", "orders"} <= result  # fmt: skip
    assert set(backtest.BacktestOrder._fields[:5]) == {"ts", "instrument", "side", "qty", "price"}
    assert list(inspect.signature(backtest.run_candle).parameters)[:3] == ["strategy", "bars", "config"]
    assert list(inspect.signature(backtest.run_non_candle).parameters)[:3] == ["strategy", "events", "config"]


def test_modules_say_why_they_exist_and_stay_small() -> None:
    for info in pkgutil.iter_modules(backtest.__path__):
        mod = importlib.import_module(f"quantops_trading.backtest.{info.name}")
        assert mod.__doc__ and "exists" in mod.__doc__, info.name
        assert mod.__file__ is not None
        with open(mod.__file__, encoding="utf-8") as f:
            assert 100 <= len(f.readlines()) <= 400, info.name
