"""ccxt adapter: client construction, error translation and the ``ExecutionClient`` over ccxt."""

from quantops_trading.adapters.ccxt.exchange import make_binance, point_at

__all__ = ["make_binance", "point_at"]
