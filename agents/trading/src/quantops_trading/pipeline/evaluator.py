"""What the pipeline asks of a backtest: the :class:`Evaluator` protocol and its result.

Why it exists: the pipeline's decisions (sampling, validation, envelope, governor replay,
promotion) depend only on a few numbers, the per-bar equity curve and the filled orders. Coding
against this protocol keeps the pipeline testable on its own; the default implementation
(:class:`CandleEvaluator`) runs the backtest package's candle lane.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

import polars as pl

from quantops_trading.execution.types import OrderIntent, OrderType, Side
from quantops_trading.risk.book import OrderRequest
from quantops_trading.risk.lifecycle import SimOrder

__all__ = ["Evaluation", "Evaluator", "OrderRecord"]


@dataclass(frozen=True)
class OrderRecord:
    ts: float
    instrument: str
    side: Literal["buy", "sell"]
    qty: float
    price: float


@dataclass(frozen=True)
class Evaluation:
    """One backtest of one strategy (code + params) on one bar window."""

    strategy_fingerprint: str
    data_fingerprint: str
    bars: int
    trades: int
    total_return: float
    max_drawdown: float
    sharpe: float
    turnover: float
    equity: tuple[float, ...] = ()
    orders: tuple[OrderRecord, ...] = ()
    bar_ms: int = 60_000
    extra: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        return {
            "bars": float(self.bars),
            "trades": float(self.trades),
            "total_return": self.total_return,
            "max_drawdown": self.max_drawdown,
            "sharpe": self.sharpe,
            "turnover": self.turnover,
            **self.extra,
        }

    def round_trip_edge_bps(self) -> float | None:
        """Mean gross edge per closed long round trip (sell/buy - 1, before fees), in bps."""
        edges, entry = [], None
        for o in self.orders:
            if o.side == "buy":
                entry = o.price
            elif entry:
                edges.append((o.price / entry - 1.0) * 1e4)
                entry = None
        return sum(edges) / len(edges) if edges else None

    def sim_orders(self, strategy_id: str, slippage_bps: float = 0.0) -> list[SimOrder]:
        """Orders as the risk governor's replay input (market orders priced at their fill).

        Each entry carries the backtest's realised mean round-trip edge as its expected edge (the
        fee guard judges it against fees + slippage + margin); exits are reduce-only. Intent ids
        start with the code fingerprint (30), so a governor breach names the exact code + params.
        """
        edge = self.round_trip_edge_bps()
        out = []
        for n, o in enumerate(self.orders):
            intent = OrderIntent(
                strategy_id=strategy_id,
                intent_id=f"{self.strategy_fingerprint[:12] or 'bt'}-{n}",
                symbol=o.instrument,
                side=Side.BUY if o.side == "buy" else Side.SELL,
                type=OrderType.MARKET,
                quantity=Decimal(repr(o.qty)),
                reduce_only=o.side == "sell",
            )
            req = OrderRequest(
                intent, Decimal(repr(o.price)), expected_edge_bps=edge, expected_slippage_bps=slippage_bps
            )
            out.append(SimOrder(o.ts, req))
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), allow_nan=True)

    @classmethod
    def from_json(cls, text: str) -> Evaluation:
        d: dict[str, Any] = json.loads(text)
        d["equity"] = tuple(d["equity"])
        d["orders"] = tuple(OrderRecord(**o) for o in d["orders"])
        return cls(**d)

    def finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.total_return, self.max_drawdown, self.sharpe))


class Evaluator(Protocol):
    """Backtest ``entrypoint`` with ``params`` on ``bars`` (columns ts_ms, open, high, low, close, volume)."""

    def evaluate(
        self, name: str, entrypoint: str, params: Mapping[str, Any], bars: pl.DataFrame, pair: str
    ) -> Evaluation: ...
