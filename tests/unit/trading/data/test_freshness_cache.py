"""Freshness SLAs (roadmap 87) and the local cache's invalidation rules (roadmap 86), on a manual clock."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from quantops_trading.data.cache import CachePolicy, LocalCache
from quantops_trading.data.clock import ManualClock
from quantops_trading.data.freshness import FreshnessMonitor, FreshnessStatus
from quantops_trading.data.loaders import load_feed

BOOK = "orderbook/binance-spot_BTC-USDT_L2top20_20240808-09_reconstructed.csv.gz"


def test_replayed_real_book_is_fresh_until_it_stops_then_no_go_with_metrics() -> None:
    ts = load_feed(BOOK, "book").frame["ts_ms"].to_list()
    clock = ManualClock(ts[0])
    reg = CollectorRegistry()
    mon = FreshnessMonitor(
        {"binance:BTC/USDT:book": 2_000, "binance:ETH/USDT:book": 2_000}, clock=clock, registry=reg
    )
    assert not mon.tradable("binance:BTC/USDT:book")  # never seen: fail closed
    for t in ts[:500]:
        clock.set(t)
        mon.observe("binance:BTC/USDT:book", t)
        assert mon.tradable("binance:BTC/USDT:book")
    clock.advance(2_001)  # the feed stops
    status = mon.check("binance:BTC/USDT:book")
    assert status.status is FreshnessStatus.NO_GO and status.age_ms == 2_001
    labels = {"source": "binance:BTC/USDT:book"}
    assert reg.get_sample_value("quantops_data_no_go", labels) == 1
    assert reg.get_sample_value("quantops_data_age_seconds", labels) == pytest.approx(2.001)
    mon.check("binance:BTC/USDT:book")
    assert reg.get_sample_value("quantops_data_freshness_breaches_total", labels) == 2  # initial + this one
    mon.observe("binance:BTC/USDT:book", clock.now_ms() - 5_000)  # an old print does not refresh
    assert not mon.tradable("binance:BTC/USDT:book")
    mon.observe("binance:BTC/USDT:book", clock.now_ms())
    assert mon.tradable("binance:BTC/USDT:book")
    assert reg.get_sample_value("quantops_data_no_go", labels) == 0
    assert [e.source for e in mon.breach_events()] == ["binance:ETH/USDT:book"]
    with pytest.raises(KeyError, match="no freshness SLA"):
        mon.observe("kraken:x", 1)
    with pytest.raises(ValueError, match="> 0"):
        FreshnessMonitor({"a": 0})


def test_cache_ttl_expiry() -> None:
    clock = ManualClock()
    cache = LocalCache({"bars": CachePolicy(ttl_ms=60_000)}, clock=clock)
    cache.put("bars", "BTC/USDT@binance:1m", [1, 2, 3])
    clock.advance(60_000)
    assert cache.get("bars", "BTC/USDT@binance:1m") == [1, 2, 3]
    clock.advance(1)
    assert cache.get("bars", "BTC/USDT@binance:1m") is None and cache.stats.expired == 1


def test_cache_version_bump_invalidates_older_entries_only() -> None:
    clock = ManualClock()
    cache = LocalCache(clock=clock)
    loads: list[str] = []

    def loader() -> dict[str, str]:
        loads.append("x")
        return {"tick": "0.01"}

    assert cache.get_or_load("markets", "binance", loader) == {"tick": "0.01"}
    cache.get_or_load("markets", "binance", loader)
    assert len(loads) == 1
    cache.bump_version("markets")  # exchange info changed upstream
    cache.get_or_load("markets", "binance", loader)
    assert len(loads) == 2 and cache.stats.invalidated == 1
    cache.get_or_load("markets", "binance", loader)
    assert len(loads) == 2


def test_reconnect_drops_bars_but_keeps_markets() -> None:
    cache = LocalCache(clock=ManualClock())
    cache.put("markets", "binance", {"tick": "0.01"})
    cache.put("bars", "BTC/USDT@binance:1m", [1])
    assert cache.on_reconnect() == ["bars"]
    assert cache.get("bars", "BTC/USDT@binance:1m") is None
    assert cache.get("markets", "binance") == {"tick": "0.01"}
    with pytest.raises(KeyError, match="unknown cache namespace"):
        cache.get("nope", "x")
    with pytest.raises(ValueError, match="backwards"):
        ManualClock().advance(-1)
