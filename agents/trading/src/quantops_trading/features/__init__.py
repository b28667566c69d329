"""Feature engine: multi-horizon bars and rolling features, order-book features.

Vectorised, pure and deterministic so backtests and live runs share it.
"""

from quantops_trading.features.bars import HORIZONS_MS, candles_from_trades, resample, resample_multi
from quantops_trading.features.orderbook import BOOK_FEATURE_COLUMNS, book_features
from quantops_trading.features.rolling import FEATURE_COLUMNS, multi_horizon_features, rolling_features

__all__ = [
    "BOOK_FEATURE_COLUMNS",
    "FEATURE_COLUMNS",
    "HORIZONS_MS",
    "book_features",
    "candles_from_trades",
    "multi_horizon_features",
    "resample",
    "resample_multi",
    "rolling_features",
]
