"""Built-in strategies, loaded by entrypoint (``quantops_trading.strategies.momentum:Momentum`` …)."""

from quantops_trading.strategies.cross_venue_spread import CrossVenueSpread, CrossVenueSpreadParams
from quantops_trading.strategies.market_making import MarketMaking, MarketMakingParams
from quantops_trading.strategies.mean_reversion import MeanReversion, MeanReversionParams
from quantops_trading.strategies.momentum import Momentum, MomentumParams

__all__ = [
    "CrossVenueSpread",
    "CrossVenueSpreadParams",
    "MarketMaking",
    "MarketMakingParams",
    "MeanReversion",
    "MeanReversionParams",
    "Momentum",
    "MomentumParams",
]
