"""Momentum: EMA crossover trend following on closed bars.

Why it exists: the sample manifest ``btc-momentum`` runs
``quantops_trading.strategies.momentum:Momentum`` with ``{fast: 12, slow: 48, threshold: 0.0005}``.
It is the trend leg of the momentum/mean-reversion ensemble (``signals.ensemble``).

Rule, per instrument, on every closed bar once ``slow`` bars have been seen:

* ``gap = ema_fast / ema_slow - 1`` (EMAs with α = 2/(n+1), seeded with the first close);
* ``value = +1`` if ``gap > threshold``, ``-1`` if ``gap < -threshold``, else ``0``;
* ``confidence = |gap| / (|gap| + threshold + scale)`` — grows with the strength of the trend,
  where ``scale`` is a small floor so a zero threshold cannot give confidence 1 on noise.

The signal's attribution carries ``gap``, both EMAs and the 1-bar return so every decision can be
explained later (roadmap 44).

Why EMAs and not simple moving averages: an EMA needs O(1) state per instrument and reacts to the
newest bar without the "drop-off" jump an SMA shows when an old outlier leaves its window, which
matters on the shared Bittrex files with their listing spikes. The first close seeds both EMAs, so
the first ``slow - 1`` bars only warm up (no signal), exactly like the ``min_periods`` rule of the
rolling features.

What it must not do: size positions or look at any bar but the
current one and its own running state (no look-ahead by construction; tested by truncation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from pydantic import Field, model_validator

from quantops_trading.model.ids import InstrumentId
from quantops_trading.strategy.base import Bar, Output, Signal, Strategy, StrategyParams

__all__ = ["Momentum", "MomentumParams"]


class MomentumParams(StrategyParams):
    """``fast``/``slow`` EMA lengths in bars; ``threshold`` = minimum relative EMA gap to act on."""

    fast: int = Field(default=12, ge=1, le=10_000)
    slow: int = Field(default=48, ge=2, le=10_000)
    threshold: float = Field(default=0.0005, ge=0.0, le=0.5)
    confidence_scale: float = Field(default=1e-4, gt=0.0, description="Floor added to the threshold.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


@dataclass(slots=True)
class _State:
    ema_fast: float
    ema_slow: float
    last_close: float
    seen: int = 1


class Momentum(Strategy):
    """EMA-crossover momentum; one :class:`Signal` per closed bar after warm-up."""

    Params = MomentumParams

    def __init__(self, params: StrategyParams) -> None:
        super().__init__(params)
        assert isinstance(params, MomentumParams)
        self.p = params
        self._alpha_fast = 2.0 / (params.fast + 1)
        self._alpha_slow = 2.0 / (params.slow + 1)
        self._state: dict[str, _State] = {}

    def on_bar(self, bar: Bar, **kwargs: Any) -> Sequence[Output]:
        st = self._state.get(bar.instrument_id)
        if st is None or bar.close <= 0:
            if bar.close > 0:
                self._state[bar.instrument_id] = _State(bar.close, bar.close, bar.close)
            return ()
        st.ema_fast += self._alpha_fast * (bar.close - st.ema_fast)
        st.ema_slow += self._alpha_slow * (bar.close - st.ema_slow)
        ret = bar.close / st.last_close - 1.0
        st.last_close = bar.close
        st.seen += 1
        if st.seen < self.p.slow:
            return ()
        gap = st.ema_fast / st.ema_slow - 1.0
        th = self.p.threshold
        value = 1.0 if gap > th else -1.0 if gap < -th else 0.0
        confidence = abs(gap) / (abs(gap) + th + self.p.confidence_scale)
        return [
            Signal(
                instrument_id=InstrumentId(bar.instrument_id),
                ts_ms=bar.ts_ms,
                value=value,
                confidence=confidence,
                attribution={"gap": gap, "ema_fast": st.ema_fast, "ema_slow": st.ema_slow, "ret_1": ret},
                reason="trend up" if value > 0 else "trend down" if value < 0 else "no trend",
            )
        ]
