"""Cross-venue spread: trade the deviation of the price ratio of two legs from its recent mean.

Why it exists: the same asset quoted on two venues (or spot vs perpetual, as in the shared
Binance BTCUSDT books recorded together) has a relative price that wanders around a slowly moving
basis. When the deviation exceeds the round-trip fees by ``entryBps`` the strategy sells the rich
leg and buys the cheap one, and unwinds both when the deviation is back inside ``exitBps``.

Per book update of either leg (``on_book``), once both legs are fresh (their book times within
``maxLegAgeMs`` of each other):

* ``spread_bps = (mid_a / mid_b - 1) · 1e4``;
* ``basis`` = mean of the previous ``window`` spreads (strictly past: the current one is excluded);
* ``dev = spread_bps - basis``; ``edge = |dev| - (feeBpsA + feeBpsB)`` (two taker legs);
* flat and ``edge > entryBps`` → two market :class:`Intent` s (``tag`` ``leg-a``/``leg-b``);
* in position and ``|dev| < exitBps`` → two reduce-only intents closing both legs.

What it must not do: check venue health, leg timing or imbalance — those guardrails belong to
``signals.guardrails`` (roadmap 47) and the divergence entry block to ``signals.divergence``
(roadmap 50); the runtime applies both before the RiskGateway sees the intents.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from quantops_trading.execution.types import Side
from quantops_trading.model.ids import InstrumentId
from quantops_trading.strategy.base import Bar, BookSnapshot, Intent, Output, Strategy, StrategyParams

__all__ = ["CrossVenueSpread", "CrossVenueSpreadParams"]


class CrossVenueSpreadParams(StrategyParams):
    """Legs as InstrumentIds (``BTC/USDT@binance``, ``BTC/USDT:USDT@binance-usdm``), bands in bps."""

    leg_a: InstrumentId
    leg_b: InstrumentId
    window: int = Field(default=300, ge=10, le=1_000_000, description="Book updates in the basis mean.")
    entry_bps: float = Field(default=2.0, gt=0.0)
    exit_bps: float = Field(default=0.5, ge=0.0)
    fee_bps_a: float = Field(default=1.0, ge=0.0)
    fee_bps_b: float = Field(default=1.0, ge=0.0)
    quantity: Decimal = Field(default=Decimal("0.01"), gt=0)
    max_leg_age_ms: int = Field(default=1_000, ge=0)

    @model_validator(mode="after")
    def _check(self) -> CrossVenueSpreadParams:
        if self.leg_a == self.leg_b:
            raise ValueError("legA and legB must be different instruments")
        if self.exit_bps >= self.entry_bps:
            raise ValueError(f"exitBps ({self.exit_bps}) must be below entryBps ({self.entry_bps})")
        return self


class CrossVenueSpread(Strategy):
    """Two-leg relative-value strategy driven by book updates; ``on_bar`` does nothing."""

    Params = CrossVenueSpreadParams

    def __init__(self, params: StrategyParams) -> None:
        super().__init__(params)
        assert isinstance(params, CrossVenueSpreadParams)
        self.p = params
        self._latest: dict[str, BookSnapshot] = {}
        self._spreads: deque[float] = deque(maxlen=params.window)
        self._total = 0.0
        self.position = 0  # +1 = long A / short B, -1 = short A / long B

    def on_bar(self, bar: Bar, **kwargs: Any) -> Sequence[Output]:
        return ()

    def _legs(
        self, sell_a: bool, reduce: bool, ts_ms: int, conf: float, attr: dict[str, float]
    ) -> list[Output]:
        reason = "unwind" if reduce else "enter"
        return [
            Intent(
                instrument_id=leg,
                ts_ms=ts_ms,
                confidence=conf,
                attribution=attr,
                reason=reason,
                side=side,
                quantity=self.p.quantity,
                reduce_only=reduce,
                tag=tag,
            )
            for leg, side, tag in (
                (self.p.leg_a, Side.SELL if sell_a else Side.BUY, "leg-a"),
                (self.p.leg_b, Side.BUY if sell_a else Side.SELL, "leg-b"),
            )
        ]

    def on_book(self, book: BookSnapshot, **kwargs: Any) -> Sequence[Output]:
        if book.instrument_id not in (self.p.leg_a, self.p.leg_b) or not book.bids or not book.asks:
            return ()
        self._latest[book.instrument_id] = book
        a, b = self._latest.get(self.p.leg_a), self._latest.get(self.p.leg_b)
        if a is None or b is None or abs(a.ts_ms - b.ts_ms) > self.p.max_leg_age_ms:
            return ()
        spread = (a.mid / b.mid - 1.0) * 1e4
        full = len(self._spreads) == self._spreads.maxlen
        basis = sum(self._spreads) / len(self._spreads) if full else None
        self._spreads.append(spread)
        if basis is None:
            return ()
        dev = spread - basis
        edge = abs(dev) - (self.p.fee_bps_a + self.p.fee_bps_b)
        attr = {"spread_bps": spread, "basis_bps": basis, "dev_bps": dev, "edge_bps": edge}
        if self.position == 0 and edge > self.p.entry_bps:
            self.position = -1 if dev > 0 else 1
            conf = edge / (edge + self.p.entry_bps)
            return self._legs(sell_a=dev > 0, reduce=False, ts_ms=book.ts_ms, conf=conf, attr=attr)
        if self.position != 0 and abs(dev) < self.p.exit_bps:
            sell_a = self.position > 0
            self.position = 0
            return self._legs(sell_a=sell_a, reduce=True, ts_ms=book.ts_ms, conf=1.0, attr=attr)
        return ()
