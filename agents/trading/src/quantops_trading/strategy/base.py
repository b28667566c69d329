"""The strategy interface: what a trader agent calls, with which data, and what comes back.

Why it exists: one agent image runs every strategy (``Strategy.spec.entrypoint``), so the contract
between the runtime and a strategy must be explicit, versioned and narrow. A strategy receives
market data through ``on_<event>`` callbacks and answers with *outputs* only:

* :class:`Signal` — a target exposure in [-1, 1] with a confidence and the features behind it;
* :class:`Intent` — a concrete order wish (side, quantity, optional limit price).

Neither is an order. The runtime turns an ``Intent`` into a :class:`~quantops_trading.risk.OrderRequest`
(:meth:`Intent.to_order_request`) and submits it to the :class:`~quantops_trading.risk.RiskGateway`;
a strategy never holds an execution client.

What it must not do: perform I/O, read the clock (time arrives with the data), or look at data it
was not given — callbacks see the past and the present, never the future.

Interface versions: bump :data:`INTERFACE_VERSION` when a callback signature changes incompatibly;
optional hooks take ``**kwargs`` so new keyword arguments can be added without a bump.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from quantops_trading.execution.types import OrderIntent, OrderRequest, OrderType, Side
from quantops_trading.model.events import SignalEmitted
from quantops_trading.model.ids import InstrumentId, StrategyId
from quantops_trading.model.orders import Fill

__all__ = [
    "INTERFACE_VERSION",
    "Bar",
    "BookSnapshot",
    "Intent",
    "Output",
    "Signal",
    "Strategy",
    "StrategyContext",
    "StrategyParams",
]

INTERFACE_VERSION = 1
"""Version of the callback contract below; the loader refuses strategies built for another one."""


class StrategyParams(BaseModel):
    """Base of every strategy's ``Params``: camelCase on the wire, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


@dataclass(frozen=True, slots=True)
class Bar:
    """A closed bar of one instrument; ``ts_ms`` is the bar's *close* time (it is known then)."""

    instrument_id: str
    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Top-of-book levels of one instrument at ``ts_ms``; level 0 is the best price."""

    instrument_id: str
    ts_ms: int
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]

    @property
    def best_bid(self) -> float:
        return self.bids[0][0]

    @property
    def best_ask(self) -> float:
        return self.asks[0][0]

    @property
    def mid(self) -> float:
        return (self.bids[0][0] + self.asks[0][0]) / 2

    @property
    def microprice(self) -> float:
        (bp, bq), (ap, aq) = self.bids[0], self.asks[0]
        return (bp * aq + ap * bq) / (bq + aq) if bq + aq > 0 else (bp + ap) / 2

    @classmethod
    def from_row(cls, instrument_id: str, row: Mapping[str, Any], levels: int = 20) -> BookSnapshot:
        """From one row of the wide L2 files (``bid_px_1, bid_qty_1, …``)."""

        def side(name: str) -> tuple[tuple[float, float], ...]:
            out = []
            for i in range(1, levels + 1):
                px, qty = row.get(f"{name}_px_{i}"), row.get(f"{name}_qty_{i}")
                if px is None or qty is None:
                    break
                out.append((float(px), float(qty)))
            return tuple(out)

        return cls(instrument_id, int(row["ts_ms"]), side("bid"), side("ask"))


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instrument_id: InstrumentId
    ts_ms: int = Field(ge=0, description="Time of the data the decision was made on.")
    confidence: float = Field(ge=0.0, le=1.0)
    attribution: dict[str, float] = Field(
        default_factory=dict, description="Feature name → value (or contribution) behind the decision."
    )
    reason: str = ""


class Signal(_Output):
    """A target exposure fraction in [-1, 1] (0 = flat); sizing happens downstream."""

    kind: Literal["signal"] = "signal"
    value: float = Field(ge=-1.0, le=1.0)

    def to_event(self, strategy_id: str) -> SignalEmitted:
        """The ``SignalEmitted`` event for the event log (attribution rounded into its lineage)."""
        lineage: dict[str, str | int] = {k: f"{v:.6g}" for k, v in self.attribution.items()}
        lineage["confidence"] = f"{self.confidence:.4f}"
        return SignalEmitted(
            ts_ns=self.ts_ms * 1_000_000,
            strategy_id=StrategyId(strategy_id),
            instrument_id=self.instrument_id,
            value=self.value,
            lineage=lineage,
        )


class Intent(_Output):
    """An order wish. ``price=None`` means market; ``post_only`` asks for a maker-only limit."""

    kind: Literal["intent"] = "intent"
    side: Side
    quantity: Decimal = Field(gt=0)
    price: Decimal | None = None
    post_only: bool = False
    reduce_only: bool = False
    tag: str = Field(default="", description="Strategy-local label, e.g. 'quote-bid' or 'leg-a'.")

    def to_order_request(
        self, strategy_id: str, intent_id: str, reference_price: Decimal, *, regime: str | None = None
    ) -> OrderRequest:
        """The request the runtime submits to the RiskGateway (the only way to the venue)."""
        order = OrderIntent(
            strategy_id=strategy_id,
            intent_id=intent_id,
            symbol=self.instrument_id.symbol,
            side=self.side,
            type=OrderType.MARKET if self.price is None else OrderType.LIMIT,
            quantity=self.quantity,
            price=self.price,
            reduce_only=self.reduce_only,
            confidence=self.confidence,
            time_in_force="GTX" if self.post_only else "GTC",
        )
        return OrderRequest(order, reference_price, regime=regime)


Output = Signal | Intent
"""What a callback may return (a list of them)."""


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """Handed to ``on_start``: who the strategy is and what it trades."""

    strategy_id: str
    instruments: tuple[str, ...]
    timeframes: tuple[str, ...] = ("1m",)
    extra: Mapping[str, Any] = field(default_factory=dict)


class Strategy(ABC):
    """Base class of every strategy.

    Subclasses set ``Params`` (a :class:`StrategyParams` subclass) and implement :meth:`on_bar`;
    the other callbacks default to no-ops. Callbacks must be deterministic functions of the data
    they received so far (the truncation tests hold every built-in to that).
    """

    INTERFACE_VERSION: ClassVar[int] = INTERFACE_VERSION
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init__(self, params: StrategyParams) -> None:
        if not isinstance(params, self.Params):
            raise TypeError(
                f"{type(self).__name__} needs {self.Params.__name__}, got {type(params).__name__}"
            )
        self.params = params
        self.context: StrategyContext | None = None

    @property
    def strategy_id(self) -> str:
        return self.context.strategy_id if self.context else type(self).__name__.lower()

    def on_start(self, context: StrategyContext, **kwargs: Any) -> None:
        """Called once before any data; keep the context."""
        self.context = context

    @abstractmethod
    def on_bar(self, bar: Bar, **kwargs: Any) -> Sequence[Output]:
        """A bar closed; return signals/intents (possibly none)."""

    def on_book(self, book: BookSnapshot, **kwargs: Any) -> Sequence[Output]:
        """The order book changed (book-driven strategies override this)."""
        return ()

    def on_fill(self, fill: Fill, **kwargs: Any) -> Sequence[Output]:
        """One of this strategy's orders (partially) filled."""
        return ()

    def on_stop(self, **kwargs: Any) -> None:
        """Called once at shutdown; release nothing external (strategies own nothing external)."""
        return
