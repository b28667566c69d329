"""Load a strategy from ``"package.module:Class"`` + params, and run its callbacks contained.

Why it exists: strategies are user code picked by a Strategy resource. A typo in the entrypoint,
a bad parameter or an exception inside ``on_bar`` must become a *value* the agent can report as a
condition (``Ready=False, reason=StrategyNotFound``), never a stack trace that kills the trader
and every other strategy it runs (STYLE 2.3: expected outcomes are values).

Failure reasons (each a :class:`StrategyFailure` with a condition-ready ``reason``)::

    StrategyFailure
    ├── StrategyNotFound    module cannot be imported / has no such class
    ├── NotAStrategy        the object is not a Strategy subclass
    ├── InterfaceMismatch   built for another INTERFACE_VERSION
    ├── InvalidParams       params rejected by the strategy's Params model
    └── CallbackFailed      on_start/on_bar/on_book/on_fill/on_stop raised or returned junk

What it must not do: retry, or swallow ``KeyboardInterrupt``/``SystemExit`` (only ``Exception``).
After a callback failure the strategy is *failed*: later callbacks are not called (a strategy
whose state may be corrupt must not keep trading) until the runtime reloads it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from quantops_api import Condition, StrategySpec
from quantops_trading.model.orders import Fill
from quantops_trading.strategy.base import (
    INTERFACE_VERSION,
    Bar,
    BookSnapshot,
    Intent,
    Output,
    Signal,
    Strategy,
    StrategyContext,
)

__all__ = ["FailureReason", "LoadedStrategy", "StrategyFailure", "load_from_spec", "load_strategy"]

log = logging.getLogger(__name__)

FailureReason = Literal[
    "StrategyNotFound", "NotAStrategy", "InterfaceMismatch", "InvalidParams", "CallbackFailed"
]


@dataclass(frozen=True, slots=True)
class StrategyFailure:
    """Why a strategy cannot run; ``condition()`` is what the agent writes to the Strategy status."""

    reason: FailureReason
    message: str
    entrypoint: str
    callback: str | None = None

    def condition(self, now: dt.datetime | None = None) -> Condition:
        return Condition(
            type="Ready",
            status="False",
            reason=self.reason,
            message=self.message[:2000],
            last_transition_time=now or dt.datetime.now(dt.UTC),
        )


def _resolve(entrypoint: str) -> type[Strategy] | StrategyFailure:
    module_name, sep, class_name = entrypoint.partition(":")
    if not sep or not module_name or not class_name:
        return StrategyFailure(
            "StrategyNotFound", f"entrypoint {entrypoint!r} is not 'package.module:Class'", entrypoint
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # import errors, syntax errors, errors raised at import time
        return StrategyFailure(
            "StrategyNotFound", f"cannot import {module_name!r}: {type(e).__name__}: {e}", entrypoint
        )
    obj = getattr(module, class_name, None)
    if obj is None:
        return StrategyFailure(
            "StrategyNotFound", f"module {module_name!r} has no attribute {class_name!r}", entrypoint
        )
    if not (isinstance(obj, type) and issubclass(obj, Strategy)):
        return StrategyFailure(
            "NotAStrategy", f"{entrypoint} is not a quantops Strategy subclass", entrypoint
        )
    version = getattr(obj, "INTERFACE_VERSION", None)
    if version != INTERFACE_VERSION:
        return StrategyFailure(
            "InterfaceMismatch",
            f"{entrypoint} implements interface v{version}, this runtime speaks v{INTERFACE_VERSION}",
            entrypoint,
        )
    return obj


def _param_errors(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"params.{loc}: {err['msg']}" if loc else f"params: {err['msg']}")
    return "; ".join(parts)


def load_strategy(
    entrypoint: str,
    params: Mapping[str, Any] | None = None,
    *,
    context: StrategyContext | None = None,
) -> LoadedStrategy | StrategyFailure:
    """Import, validate params, instantiate and (if ``context``) start. Never raises for user errors."""
    cls = _resolve(entrypoint)
    if isinstance(cls, StrategyFailure):
        return cls
    try:
        validated = cls.Params.model_validate(dict(params or {}))
    except ValidationError as e:
        return StrategyFailure("InvalidParams", f"{entrypoint}: {_param_errors(e)}", entrypoint)
    try:
        instance = cls(validated)
    except Exception as e:
        return StrategyFailure(
            "CallbackFailed", f"{entrypoint}.__init__ raised {type(e).__name__}: {e}", entrypoint, "__init__"
        )
    loaded = LoadedStrategy(entrypoint, instance)
    if context is not None:
        loaded.start(context)
        if loaded.failure is not None:
            return loaded.failure
    return loaded


def load_from_spec(name: str, spec: StrategySpec) -> LoadedStrategy | StrategyFailure:
    """Load and start the strategy a Strategy resource names (pairs/timeframes become the context)."""
    context = StrategyContext(
        strategy_id=name, instruments=tuple(spec.pairs), timeframes=tuple(spec.timeframes)
    )
    return load_strategy(spec.entrypoint, spec.params, context=context)


@dataclass(slots=True)
class LoadedStrategy:
    """A strategy behind a containment wall: every callback returns outputs or records a failure."""

    entrypoint: str
    strategy: Strategy
    failure: StrategyFailure | None = None
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def _call(self, name: str, fn: Callable[[], Sequence[Output] | None]) -> list[Output]:
        if self.failure is not None:
            return []
        self.calls[name] = self.calls.get(name, 0) + 1
        try:
            result = fn()
        except Exception as e:
            self.failure = StrategyFailure(
                "CallbackFailed",
                f"{self.entrypoint}.{name} raised {type(e).__name__}: {e}",
                self.entrypoint,
                name,
            )
            log.warning("strategy failed: %s", self.failure.message)
            return []
        if result is None:
            return []
        outputs = list(result) if isinstance(result, list | tuple) else None
        if outputs is None or not all(isinstance(o, Signal | Intent) for o in outputs):
            self.failure = StrategyFailure(
                "CallbackFailed",
                f"{self.entrypoint}.{name} returned {type(result).__name__}, expected list[Signal | Intent]",
                self.entrypoint,
                name,
            )
            return []
        return outputs

    def start(self, context: StrategyContext, **kwargs: Any) -> None:
        self._call("on_start", lambda: self.strategy.on_start(context, **kwargs))

    def bar(self, bar: Bar, **kwargs: Any) -> list[Output]:
        return self._call("on_bar", lambda: self.strategy.on_bar(bar, **kwargs))

    def book(self, book: BookSnapshot, **kwargs: Any) -> list[Output]:
        return self._call("on_book", lambda: self.strategy.on_book(book, **kwargs))

    def fill(self, fill: Fill, **kwargs: Any) -> list[Output]:
        return self._call("on_fill", lambda: self.strategy.on_fill(fill, **kwargs))

    def stop(self, **kwargs: Any) -> None:
        self._call("on_stop", lambda: self.strategy.on_stop(**kwargs))
