"""A valid strategy with strict params: the broken part is the params a test passes (InvalidParams)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from quantops_trading.strategy import Bar, Output, Strategy, StrategyParams


class StrictParams(StrategyParams):
    lookback: int = Field(ge=2)


class Strict(Strategy):
    Params = StrictParams

    def on_bar(self, bar: Bar, **kwargs: Any) -> Sequence[Output]:
        return ()


class NotAStrategy:
    """Has the right shape but is not a Strategy subclass."""

    Params = StrictParams


class OldInterface(Strict):
    INTERFACE_VERSION = 0
