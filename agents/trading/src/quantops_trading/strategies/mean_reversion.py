"""Mean reversion: fade z-score extremes of the close, exit when the price has reverted.

Why it exists: the sample manifest ``eth-meanrev`` runs
``quantops_trading.strategies.mean_reversion:MeanReversion`` with
``{window: 60, entryZ: 2.0, exitZ: 0.5}``; it is the range leg of the ensemble (``signals.ensemble``).

Rule, per instrument, on every closed bar once ``window`` closes are known:

* ``z = (close - mean) / std`` over the last ``window`` closes including this one (ddof=1, the
  same definition as the ``zscore`` feature in ``features.rolling``);
* flat → short when ``z > entryZ``, flat → long when ``z < -entryZ``;
* in a position → flat once ``|z| < exitZ`` (hysteresis between entry and exit bands);
* ``confidence = |z| / (|z| + entryZ)`` on entries and holds, ``1 - |z| / exitZ`` capped on exits;
* ``edge_bps`` in the attribution, in a position: the move back to the exit band,
  ``(|z| - exitZ) · std / close`` in bps (0 when flat) — what the fee guard (66) weighs against costs.

What it must not do: use any close after the current bar (it keeps only a ring of past closes),
or size the position (``signals.sizing`` does that).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from pydantic import Field, model_validator

from quantops_trading.model.ids import InstrumentId
from quantops_trading.strategy.base import Bar, Output, Signal, Strategy, StrategyParams

__all__ = ["MeanReversion", "MeanReversionParams"]


class MeanReversionParams(StrategyParams):
    """``window`` bars for mean/std; enter beyond ``entryZ``, exit inside ``exitZ`` (wire: camelCase)."""

    window: int = Field(default=60, ge=3, le=100_000)
    entry_z: float = Field(default=2.0, gt=0.0, le=20.0)
    exit_z: float = Field(default=0.5, ge=0.0, le=20.0)

    @model_validator(mode="after")
    def _bands(self) -> Self:
        if self.exit_z >= self.entry_z:
            raise ValueError(f"exitZ ({self.exit_z}) must be below entryZ ({self.entry_z})")
        return self


@dataclass(slots=True)
class _State:
    closes: deque[float]
    position: float = 0.0


class MeanReversion(Strategy):
    """Z-score fade with entry/exit hysteresis; one :class:`Signal` per closed bar after warm-up."""

    Params = MeanReversionParams

    def __init__(self, params: StrategyParams) -> None:
        super().__init__(params)
        assert isinstance(params, MeanReversionParams)
        self.p = params
        self._state: dict[str, _State] = {}

    def _zscore(self, st: _State, close: float) -> tuple[float, float] | None:
        """Exact (z, std) of ``close`` in the ring (fsum, no running sums: no drift, no history
        dependence)."""
        n = self.p.window
        st.closes.append(close)
        if len(st.closes) < n:
            return None
        mean = math.fsum(st.closes) / n
        var = math.fsum((x - mean) ** 2 for x in st.closes) / (n - 1)
        if var <= (1e-12 * mean) ** 2:
            return 0.0, 0.0  # flat window (e.g. runs of zero-volume bars): nothing to fade
        return (close - mean) / math.sqrt(var), math.sqrt(var)

    def on_bar(self, bar: Bar, **kwargs: Any) -> Sequence[Output]:
        st = self._state.get(bar.instrument_id)
        if st is None:
            st = self._state[bar.instrument_id] = _State(deque(maxlen=self.p.window))
        zs = self._zscore(st, bar.close)
        if zs is None:
            return ()
        z, std = zs
        entry, exit_ = self.p.entry_z, self.p.exit_z
        reason = "hold"
        if st.position == 0.0 and z > entry:
            st.position, reason = -1.0, "fade rich"
        elif st.position == 0.0 and z < -entry:
            st.position, reason = 1.0, "fade cheap"
        elif st.position != 0.0 and abs(z) < exit_:
            st.position, reason = 0.0, "reverted"
        if st.position != 0.0:
            confidence = abs(z) / (abs(z) + entry)
        else:
            confidence = min(1.0, max(0.0, 1.0 - abs(z) / entry))
        in_position = st.position != 0.0 and bar.close > 0
        edge = max(0.0, abs(z) - exit_) * std / bar.close * 1e4 if in_position else 0.0
        return [
            Signal(
                instrument_id=InstrumentId(bar.instrument_id),
                ts_ms=bar.ts_ms,
                value=st.position,
                confidence=confidence,
                attribution={"zscore": z, "entry_z": entry, "exit_z": exit_, "edge_bps": edge},
                reason=reason,
            )
        ]
