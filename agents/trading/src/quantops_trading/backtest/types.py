"""Value types shared by both backtest lanes: configuration, order records and the result.

Why it exists: the pipeline (roadmap 22/30) runs a strategy through the vectorised candle lane and
the event-driven non-candle lane and compares them; both must speak the same result type, carry
the strategy/data fingerprints, and hand orders to the risk governor replay
(:func:`quantops_trading.risk.lifecycle.simulate_promotion`) unchanged.

What it must not do: simulate anything (``candle.py``/``non_candle.py``) or compare (``compare.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from quantops_trading.execution.types import OrderIntent, OrderType, Side
from quantops_trading.risk.book import OrderRequest
from quantops_trading.risk.lifecycle import SimOrder
from quantops_trading.signals.slippage import SlippageModel

__all__ = ["BacktestConfig", "BacktestOrder", "BacktestResult", "FloatArray", "Lane"]

FloatArray = npt.NDArray[np.float64]
Lane = Literal["candle", "non_candle"]
_MS_PER_YEAR = 365.0 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Money and cost assumptions of one run.

    ``fee_rate`` is a fraction of notional charged on every fill; ``slippage_bps`` moves every fill
    price against the order (buys up, sells down). When ``slippage_model`` (a venue's calibrated
    :class:`~quantops_trading.signals.slippage.SlippageModel`) is set, the non-candle lane adds its
    prediction for the order's size against the visible depth, and the candle lane (which has no
    depth) uses its intercept ``a_bps`` on top of ``slippage_bps``. ``size_fraction`` is the share
    of free cash each entry commits. ``instrument`` is an ``InstrumentId`` (``BASE/QUOTE@venue``);
    the non-candle lane trades its ``BASE/QUOTE`` symbol on the in-process venue.
    ``expected_edge_bps`` is what the non-candle lane tells the risk fee guard about each entry;
    ``None`` does what the trader agent does: ``|attribution["gap"]|·1e4`` of the deciding signal.
    The candle lane stamps it on its orders for the governor replay (``None``: the fee guard refuses
    entries there, exactly as it would live).
    """

    init_cash: float = 10_000.0
    fee_rate: float = 0.001
    slippage_bps: float = 0.0
    size_fraction: float = 1.0
    slippage_model: SlippageModel | None = None
    instrument: str = "SIM/USD@backtest"
    expected_edge_bps: float | None = None

    def __post_init__(self) -> None:
        checks = {
            "init_cash": self.init_cash > 0 and math.isfinite(self.init_cash),
            "fee_rate": 0 <= self.fee_rate < 1,
            "slippage_bps": 0 <= self.slippage_bps < 10_000,
            "size_fraction": 0 < self.size_fraction <= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"BacktestConfig.{name}: invalid value {getattr(self, name)!r}")

    @property
    def symbol(self) -> str:
        """``BASE/QUOTE`` of ``instrument`` (venue suffix dropped)."""
        return self.instrument.split("@", 1)[0]

    @property
    def candle_slippage(self) -> float:
        """Fractional adverse price move per fill used by the candle lane."""
        extra = self.slippage_model.a_bps if self.slippage_model is not None else 0.0
        return max(0.0, self.slippage_bps + extra) / 10_000.0


class BacktestOrder(NamedTuple):
    """One filled backtest order: ``ts`` in seconds (epoch), ``side`` ``"buy"``/``"sell"``.

    A NamedTuple (immutable, ~10x cheaper to build than a frozen dataclass): a 1M-bar run can
    produce tens of thousands of orders, and building them dominated the candle lane's time.
    """

    ts: float
    instrument: str
    side: Literal["buy", "sell"]
    qty: float
    price: float
    fee: float = 0.0
    bar: int = -1  # candle lane: index of the fill bar; non-candle: index of the event
    edge_bps: float | None = None  # expected edge told to the risk fee guard (None: none given)

    def to_sim_order(self, strategy_id: str, n: int) -> SimOrder:
        """This order as the risk governor's replay record (market order priced at the fill)."""
        px = Decimal(repr(self.price))
        intent = OrderIntent(
            strategy_id=strategy_id,
            intent_id=f"bt-{n}",
            symbol=self.instrument,
            side=Side.BUY if self.side == "buy" else Side.SELL,
            type=OrderType.MARKET,
            quantity=Decimal(repr(self.qty)),
        )
        return SimOrder(self.ts, OrderRequest(intent, px, expected_edge_bps=self.edge_bps))


@dataclass(frozen=True)
class BacktestResult:
    """What one lane produced; ``equity`` is marked once per bar (both lanes)."""

    strategy_fingerprint: str
    data_fingerprint: str
    lane: Lane
    trades: int
    final_equity: float
    total_return: float
    max_drawdown: float
    turnover: float
    sharpe: float
    equity: FloatArray
    orders: list[BacktestOrder]
    fees_paid: float = 0.0
    denied: int = 0
    notes: tuple[str, ...] = field(default=())

    def metrics(self) -> dict[str, float]:
        """The scalar results, for evidence records and dashboards."""
        return {
            "trades": float(self.trades),
            "final_equity": self.final_equity,
            "total_return": self.total_return,
            "max_drawdown": self.max_drawdown,
            "turnover": self.turnover,
            "sharpe": self.sharpe,
            "fees_paid": self.fees_paid,
            "orders": float(len(self.orders)),
            "denied": float(self.denied),
        }

    def sim_orders(self, strategy_id: str) -> list[SimOrder]:
        """All orders as :class:`~quantops_trading.risk.lifecycle.SimOrder` for the governor replay."""
        return [o.to_sim_order(strategy_id, n) for n, o in enumerate(self.orders)]


def max_drawdown(equity: FloatArray) -> float:
    """Largest fall from a running peak, as a positive fraction of that peak."""
    if equity.size == 0:
        return 0.0
    peak = np.maximum.accumulate(equity)
    return float(1.0 - np.min(equity / peak))  # = max(1 - equity/peak): 1 - x is monotone


def sharpe(equity: FloatArray, bar_ms: float) -> float:
    """Annualised Sharpe of per-bar equity returns (risk-free 0); 0 when undefined."""
    if equity.size < 3 or bar_ms <= 0:
        return 0.0
    r = equity[1:] / equity[:-1]
    r -= 1.0
    sd = float(np.std(r, ddof=1))
    if not math.isfinite(sd) or sd <= 1e-15:
        return 0.0
    return float(np.mean(r) / sd * math.sqrt(_MS_PER_YEAR / bar_ms))
