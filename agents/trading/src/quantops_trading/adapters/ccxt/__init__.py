"""ccxt adapter: client construction, error translation and the ``ExecutionClient`` over ccxt."""

from quantops_trading.adapters.ccxt.client import CcxtExecutionClient
from quantops_trading.adapters.ccxt.errors import translate, translating
from quantops_trading.adapters.ccxt.exchange import make_binance, point_at

__all__ = ["CcxtExecutionClient", "make_binance", "point_at", "translate", "translating"]
