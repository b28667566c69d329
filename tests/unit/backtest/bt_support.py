"""Shared inputs of the backtest tests: real files from the shared data, and an independent
plain-Python reference of the candle lane's execution model (one bar at a time, no arrays)."""

from __future__ import annotations

from functools import cache

import numpy as np
import polars as pl

from quantops_trading.backtest import BacktestConfig
from quantops_trading.data import load_feed

ETH_BTC_5M = "candles/bittrex_ETH-BTC_5m_2018-01-10_2018-01-30.csv.gz"
XRP_ETH_1M = "candles/binance_XRP-ETH_1m_2019-10-11_2019-10-13.csv.gz"
LTC_BTC_5M = "candles/bittrex_LTC-BTC_5m_2017-09-05_2017-09-25.csv.gz"
SPOT_BOOK = "orderbook/binance-spot_BTC-USDT_L2top20_20240808-09_reconstructed.csv.gz"
SPOT_TRADES = "trades/binance-spot_BTC-USDT_trades_20240808-09.csv.gz"
SPOT_ID = "BTC/USDT@binance"


@cache
def candles(relative: str) -> pl.DataFrame:
    return load_feed(relative, "candles").frame.sort("ts_ms")


@cache
def book(relative: str) -> pl.DataFrame:
    return load_feed(relative, "book").frame.sort("ts_ms")


def reference_candle(
    open_: np.ndarray, close: np.ndarray, entries: np.ndarray, exits: np.ndarray, cfg: BacktestConfig
) -> tuple[list[float], list[tuple[str, int, float, float]]]:
    """The documented execution model written as the obvious loop: (equity per bar, fills)."""
    f, s, phi = cfg.fee_rate, cfg.candle_slippage, cfg.size_fraction
    cash, qty = cfg.init_cash, 0.0
    pending: str | None = None
    equity: list[float] = []
    fills: list[tuple[str, int, float, float]] = []
    for t in range(len(close)):
        if pending == "buy":
            px = open_[t] * (1 + s)
            qty = phi * cash / (px * (1 + f))
            cash -= qty * px * (1 + f)
            fills.append(("buy", t, qty, px))
        elif pending == "sell":
            px = open_[t] * (1 - s)
            cash += qty * px * (1 - f)
            fills.append(("sell", t, qty, px))
            qty = 0.0
        pending = None
        equity.append(cash + qty * close[t])
        e, x = bool(entries[t]), bool(exits[t])
        if e and not x and qty == 0.0:
            pending = "buy"
        elif x and not e and qty > 0.0:
            pending = "sell"
    return equity, fills
