"""Block new entries during extreme quote divergence between venues or spot vs perpetual (50).

Why it exists: when two markets for the same asset suddenly disagree far beyond their usual basis,
one of them is broken (stale feed, venue incident, liquidation cascade) and every price-based
signal is suspect. Exits stay allowed — being unable to reduce risk is worse — but no new
exposure is opened until the quotes agree again.

:class:`DivergencePolicy` is fed the mids of two instruments as they update (``on_quote``):

* ``divergence_bps = (mid_a / mid_b - 1) · 1e4`` once both quotes are fresh (``max_quote_age_ms``);
* the *basis* is the median of the previous ``window`` divergences and the scale their MAD
  (×1.4826), floored at ``min_scale_bps`` (strictly past values: no look-ahead);
* **extreme** when ``|divergence - basis| > max_z · scale`` or ``|divergence| > max_abs_bps``;
  stale or one-sided quotes also block (divergence unknown);
* :meth:`allows` lets an :class:`Intent` through if it is reduce-only or nothing is extreme.

:func:`divergence_frame` computes the same series vectorised over the shared spot/perp books
(``join_asof`` within ``max_quote_age_ms``) for research and tests.
What it must not do: cancel resting orders or flatten positions (that is the unwind ladder's job).
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from quantops_trading.strategy.base import Intent

__all__ = ["DivergenceConfig", "DivergencePolicy", "DivergenceState", "divergence_frame"]


class DivergenceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    window: int = Field(default=600, ge=10)
    min_history: int = Field(default=100, ge=5)
    max_z: float = Field(default=8.0, gt=0.0)
    min_scale_bps: float = Field(default=0.5, gt=0.0)
    max_abs_bps: float = Field(default=50.0, gt=0.0)
    max_quote_age_ms: int = Field(default=1_000, ge=0)


@dataclass(frozen=True, slots=True)
class DivergenceState:
    ts_ms: int
    divergence_bps: float | None
    basis_bps: float | None
    extreme: bool
    reason: str


@dataclass(slots=True)
class DivergencePolicy:
    instrument_a: str
    instrument_b: str
    config: DivergenceConfig = field(default_factory=DivergenceConfig)
    _quotes: dict[str, tuple[int, float]] = field(default_factory=dict)
    _history: deque[float] = field(default_factory=deque)
    state: DivergenceState = field(
        default_factory=lambda: DivergenceState(0, None, None, True, "no quotes yet")
    )

    def on_quote(self, instrument: str, ts_ms: int, mid: float) -> DivergenceState:
        if instrument in (self.instrument_a, self.instrument_b) and mid > 0:
            self._quotes[instrument] = (ts_ms, mid)
        cfg = self.config
        a, b = self._quotes.get(self.instrument_a), self._quotes.get(self.instrument_b)
        if a is None or b is None:
            self.state = DivergenceState(ts_ms, None, None, True, "one side has no quote")
            return self.state
        if abs(a[0] - b[0]) > cfg.max_quote_age_ms or ts_ms - min(a[0], b[0]) > cfg.max_quote_age_ms:
            self.state = DivergenceState(ts_ms, None, None, True, "stale quote: divergence unknown")
            return self.state
        div = (a[1] / b[1] - 1.0) * 1e4
        basis, reason, extreme = None, "ok", False
        if abs(div) > cfg.max_abs_bps:
            extreme, reason = True, f"|divergence| {abs(div):.1f} bps > {cfg.max_abs_bps} bps"
        elif len(self._history) >= cfg.min_history:
            hist = list(self._history)
            basis = statistics.median(hist)
            scale = max(1.4826 * statistics.median(abs(x - basis) for x in hist), cfg.min_scale_bps)
            if abs(div - basis) > cfg.max_z * scale:
                extreme = True
                reason = f"divergence {div:.2f} bps vs basis {basis:.2f} (> {cfg.max_z} x {scale:.2f})"
        else:
            reason = "warming up"
        if not extreme:  # extreme prints do not move the baseline they are judged against
            self._history.append(div)
            if len(self._history) > cfg.window:
                self._history.popleft()
        self.state = DivergenceState(ts_ms, div, basis, extreme, reason)
        return self.state

    def allows(self, intent: Intent) -> bool:
        """Reduce-only intents always pass; new entries only while quotes agree."""
        return intent.reduce_only or not self.state.extreme


def divergence_frame(
    book_a: pl.DataFrame, book_b: pl.DataFrame, max_quote_age_ms: int = 1_000
) -> pl.DataFrame:
    """``ts_ms, mid_a, mid_b, divergence_bps`` at each update of ``book_a`` with the latest ``book_b``."""

    def mids(df: pl.DataFrame, suffix: str) -> pl.DataFrame:
        return df.select(
            pl.col("ts_ms").cast(pl.Int64),
            ((pl.col("bid_px_1") + pl.col("ask_px_1")) / 2).alias(f"mid_{suffix}"),
        ).sort("ts_ms")

    joined = mids(book_a, "a").join_asof(
        mids(book_b, "b"), on="ts_ms", strategy="backward", tolerance=max_quote_age_ms
    )
    return joined.drop_nulls().with_columns(
        ((pl.col("mid_a") / pl.col("mid_b") - 1.0) * 1e4).alias("divergence_bps")
    )
