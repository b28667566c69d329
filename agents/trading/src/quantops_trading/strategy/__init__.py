"""Strategy interface (``base``) and the contained loader (``loader``) a trader agent runs strategies with."""

from quantops_trading.strategy.base import (
    INTERFACE_VERSION,
    Bar,
    BookSnapshot,
    Intent,
    Output,
    Signal,
    Strategy,
    StrategyContext,
    StrategyParams,
)
from quantops_trading.strategy.loader import (
    FailureReason,
    LoadedStrategy,
    StrategyFailure,
    load_from_spec,
    load_strategy,
)

__all__ = [
    "INTERFACE_VERSION",
    "Bar",
    "BookSnapshot",
    "FailureReason",
    "Intent",
    "LoadedStrategy",
    "Output",
    "Signal",
    "Strategy",
    "StrategyContext",
    "StrategyFailure",
    "StrategyParams",
    "load_from_spec",
    "load_strategy",
]
