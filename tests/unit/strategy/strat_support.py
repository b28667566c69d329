"""Shared helpers for the strategy/signal tests: real files from the shared data → callback inputs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cache

import polars as pl

from quantops_trading.data import load_feed
from quantops_trading.strategy import Bar, BookSnapshot, Output, Strategy

ETH_BTC_1M = "candles/bittrex_ETH-BTC_1m_2018-01-20_2018-01-30.csv.gz"
XRP_ETH_1M = "candles/binance_XRP-ETH_1m_2019-10-11_2019-10-13.csv.gz"
SPOT_BOOK = "orderbook/binance-spot_BTC-USDT_L2top20_20240808-09_reconstructed.csv.gz"
PERP_BOOK = "orderbook/binance-usdm_BTCUSDT-PERP_L2top20_20240808_reconstructed.csv.gz"
CME_6E = "other_markets/cme_6EH4_EURUSD-future_1m_2024-01-01_2024-01-31.csv.gz"
FXCM_GBPUSD = "other_markets/fxcm_GBP-USD_1m_bid_ask_2012-02-01_2012-03-01.csv.gz"
SPOT_ID = "BTC/USDT@binance"
PERP_ID = "BTC/USDT:USDT@binance-usdm"


@cache
def candles(relative: str) -> pl.DataFrame:
    return load_feed(relative, "candles").frame.sort("ts_ms")


@cache
def book_frame(relative: str) -> pl.DataFrame:
    return load_feed(relative, "book").frame.sort("ts_ms")


def bars(relative: str, instrument: str, bar_ms: int = 60_000) -> list[Bar]:
    """Bars labelled by close time (file ``ts_ms`` is the open time)."""
    df = candles(relative)
    return [
        Bar(instrument, int(ts) + bar_ms, o, h, lo, c, v)
        for ts, o, h, lo, c, v in df.select("ts_ms", "open", "high", "low", "close", "volume").iter_rows()
    ]


@cache
def books(relative: str, instrument: str, levels: int = 20) -> tuple[BookSnapshot, ...]:
    return tuple(
        BookSnapshot.from_row(instrument, r, levels) for r in book_frame(relative).iter_rows(named=True)
    )


def merged_books() -> list[BookSnapshot]:
    """Spot and perp book updates interleaved by exchange time (stable: spot first on ties)."""
    both = [*books(SPOT_BOOK, SPOT_ID), *books(PERP_BOOK, PERP_ID)]
    return sorted(both, key=lambda b: b.ts_ms)


def run(
    strategy: Strategy, events: Iterable[Bar | BookSnapshot], hook: Callable[[Strategy], None] | None = None
) -> list[Output]:
    out: list[Output] = []
    for ev in events:
        res: Sequence[Output] = strategy.on_bar(ev) if isinstance(ev, Bar) else strategy.on_book(ev)
        out.extend(res)
    return out


def decisions_until(outputs: Iterable[Output], t_ms: int) -> list[str]:
    """Canonical JSON of each decision made on data up to ``t_ms`` (for truncation comparisons)."""
    return [o.model_dump_json() for o in outputs if o.ts_ms <= t_ms]
