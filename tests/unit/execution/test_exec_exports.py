"""Pin the public API of the execution, venue and ccxt-adapter packages (STYLE 2.2)."""

from __future__ import annotations

import quantops_trading.adapters.ccxt as adapter
import quantops_trading.execution as execution
import quantops_trading.venue as venue


def test_exported_members_are_deliberate() -> None:
    assert set(execution.__all__) == {
        "ActionKind", "ActionQueue", "BreakerConfig", "BreakerState", "CircuitBreaker", "ConnectorConfig",
        "ExecutionClient", "Failover", "Fill", "Gate", "LatencyTracker", "Ledger", "MarketRules", "OrderBook",
        "OrderIntent", "OrderStatus", "OrderType", "PaperBroker", "RetryPolicy", "Side", "VenueConnector",
        "VenueOrder", "cancel_expired", "choose_route", "client_order_id", "rank_venues", "reconcile",
        "retry_call", "routing_matrix",
    }  # fmt: skip
    assert set(venue.__all__) == {
        "ApiKey", "FaultRule", "LatencyModel", "SlippageModel", "SymbolConfig", "VenueConfig", "VenueServer",
        "load_config",
    }  # fmt: skip
    assert set(adapter.__all__) == {
        "CcxtExecutionClient",
        "make_binance",
        "point_at",
        "translate",
        "translating",
    }
    for mod in (execution, venue, adapter):
        assert all(hasattr(mod, name) for name in mod.__all__)


async def test_paper_broker_and_ccxt_adapter_implement_the_port() -> None:
    from quantops_trading.adapters.ccxt import CcxtExecutionClient, make_binance

    async def no_book(symbol: str) -> execution.OrderBook:
        raise AssertionError("not called")

    client = CcxtExecutionClient(make_binance(None, "key", "secret"), "binance")  # live: keys required
    try:
        assert isinstance(client, execution.ExecutionClient)
        assert isinstance(execution.PaperBroker("paper", no_book, {}), execution.ExecutionClient)
    finally:
        await client.close()
