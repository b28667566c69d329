"""Execution: connectors, breakers, retries, idempotent ids, routing, reconciliation, paper broker.

Strategy and risk code talk to this package only; venues are reached through the
``ExecutionClient`` port (``adapters/ccxt`` or ``paper``). Errors are this package's own tree
(``errors``); nothing here catches a ccxt exception.
"""

__all__: list[str] = []
