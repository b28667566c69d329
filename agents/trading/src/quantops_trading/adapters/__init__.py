"""Adapters: the only places foreign venue clients (ccxt) are imported, called and translated.

Execution code talks to the ``ExecutionClient`` protocol in ``quantops_trading.execution``; an
adapter implements it for one client library. Nothing outside ``adapters/`` catches a ccxt error.
"""

__all__: list[str] = []
