"""quantops_trading: the trading library every agent shares.

One package per concern (model, data, storage, features, signals, risk, execution, venue,
backtest, pipeline, runtime, telemetry). It never imports kopf or the operator: agents must run
without Kubernetes (``quantops up``) and on Kubernetes with the same code.
"""

__all__: list[str] = []
