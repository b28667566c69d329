"""Strategies that fail inside callbacks: the loader must contain them as CallbackFailed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quantops_trading.strategy import Bar, Output, Strategy, StrategyContext


class RaisesOnThirdBar(Strategy):
    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.seen = 0

    def on_bar(self, bar: Bar, **kwargs: Any) -> Sequence[Output]:
        self.seen += 1
        if self.seen == 3:
            raise ZeroDivisionError("bad math on bar 3")
        return ()


class RaisesOnStart(Strategy):
    def on_start(self, context: StrategyContext, **kwargs: Any) -> None:
        raise RuntimeError("cannot start")

    def on_bar(self, bar: Bar, **kwargs: Any) -> Sequence[Output]:
        return ()


class ReturnsJunk(Strategy):
    def on_bar(self, bar: Bar, **kwargs: Any) -> Sequence[Output]:
        return ["buy everything"]  # type: ignore[list-item]  # deliberately wrong output type
