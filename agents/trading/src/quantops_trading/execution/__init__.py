"""Execution: connectors, breakers, retries, idempotent ids, routing, reconciliation, paper broker.

Strategy and risk code talk to this package only; venues are reached through the
``ExecutionClient`` port (``adapters/ccxt`` or ``paper``). Errors are this package's own tree
(``errors``); nothing here catches a ccxt exception.
"""

from quantops_trading.execution.breaker import BreakerConfig, BreakerState, CircuitBreaker
from quantops_trading.execution.client_ids import client_order_id
from quantops_trading.execution.connector import ConnectorConfig, VenueConnector
from quantops_trading.execution.latency import LatencyTracker
from quantops_trading.execution.paper import PaperBroker, choose_route
from quantops_trading.execution.queue import ActionKind, ActionQueue
from quantops_trading.execution.reconcile import Ledger, cancel_expired, reconcile
from quantops_trading.execution.retry import RetryPolicy, retry_call
from quantops_trading.execution.routing import Failover, rank_venues, routing_matrix
from quantops_trading.execution.types import (
    ExecutionClient,
    Fill,
    Gate,
    MarketRules,
    OrderBook,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    VenueOrder,
)

__all__ = [
    "ActionKind",
    "ActionQueue",
    "BreakerConfig",
    "BreakerState",
    "CircuitBreaker",
    "ConnectorConfig",
    "ExecutionClient",
    "Failover",
    "Fill",
    "Gate",
    "LatencyTracker",
    "Ledger",
    "MarketRules",
    "OrderBook",
    "OrderIntent",
    "OrderStatus",
    "OrderType",
    "PaperBroker",
    "RetryPolicy",
    "Side",
    "VenueConnector",
    "VenueOrder",
    "cancel_expired",
    "choose_route",
    "client_order_id",
    "rank_venues",
    "reconcile",
    "retry_call",
    "routing_matrix",
]
