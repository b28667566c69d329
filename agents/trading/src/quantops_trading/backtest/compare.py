"""Side-by-side report of the candle and non-candle lanes, with where and why they diverge.

Why it exists: the candle lane is fast but idealised; the non-candle lane is slow but trades the
recorded book through live risk. Promotion evidence needs to know how far apart they are and
whether the gap comes from costs (spread, depth, lot rounding), from risk denials or venue rejects,
or from different decisions. :func:`compare` pairs the lanes' fills in order and explains.

What it must not do: re-run either lane (it only reads two results).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quantops_trading.backtest.types import BacktestResult

__all__ = ["CompareReport", "Divergence", "compare"]

_METRICS = ("trades", "final_equity", "total_return", "max_drawdown", "turnover", "sharpe", "fees_paid")


@dataclass(frozen=True, slots=True)
class Divergence:
    """One place the lanes differ: ``index`` of the paired fill (or -1 for run-level)."""

    index: int
    kind: str  # "missing_fill" | "side" | "price" | "qty" | "denied" | "data"
    detail: str


@dataclass(frozen=True)
class CompareReport:
    candle: dict[str, float]
    non_candle: dict[str, float]
    divergences: tuple[Divergence, ...] = field(default=())
    same_data: bool = True
    same_strategy: bool = True
    mean_price_gap_bps: float = 0.0

    @property
    def same_trades(self) -> bool:
        """True when both lanes made the same sequence of entries and exits."""
        return not any(d.kind in ("missing_fill", "side") for d in self.divergences)

    def delta(self, metric: str) -> float:
        return self.non_candle[metric] - self.candle[metric]

    def to_markdown(self) -> str:
        lines = [
            "| metric | candle | non_candle | Δ (non − candle) |",
            "|---|---:|---:|---:|",
        ]
        for m in _METRICS:
            a, b = self.candle[m], self.non_candle[m]
            lines.append(f"| {m} | {a:.6g} | {b:.6g} | {b - a:+.6g} |")
        lines += [
            "",
            f"- same strategy fingerprint: {self.same_strategy}; same data fingerprint: {self.same_data}",
            f"- same entry/exit sequence: {self.same_trades}",
            f"- mean fill price gap (non-candle vs candle, adverse > 0): {self.mean_price_gap_bps:.2f} bps",
        ]
        if self.divergences:
            lines += ["", "| # | kind | detail |", "|---:|---|---|"]
            lines += [f"| {d.index} | {d.kind} | {d.detail} |" for d in self.divergences[:50]]
            if len(self.divergences) > 50:
                lines.append(f"| … | | {len(self.divergences) - 50} more |")
        return "\n".join(lines) + "\n"


def compare(
    candle: BacktestResult, non_candle: BacktestResult, *, price_tol_bps: float = 1.0
) -> CompareReport:
    """Pair the lanes' fills in order and list every difference with its likely cause."""
    if candle.lane != "candle" or non_candle.lane != "non_candle":
        raise ValueError(
            f"compare: expected (candle, non_candle) results, got ({candle.lane}, {non_candle.lane})"
        )
    divs: list[Divergence] = []
    gaps: list[float] = []
    a, b = candle.orders, non_candle.orders
    for k in range(max(len(a), len(b))):
        if k >= len(a) or k >= len(b):
            have, lane = (b[k], "non_candle") if k >= len(a) else (a[k], "candle")
            divs.append(
                Divergence(
                    k,
                    "missing_fill",
                    f"only the {lane} lane has fill {k}: "
                    f"{have.side} {have.qty:.6g} @ {have.price:.6g} (t={have.ts:.3f})",
                )
            )
            continue
        x, y = a[k], b[k]
        if x.side != y.side:
            divs.append(
                Divergence(k, "side", f"candle {x.side} at t={x.ts:.3f}, non_candle {y.side} at t={y.ts:.3f}")
            )
            continue
        sign = 1.0 if x.side == "buy" else -1.0
        gap = sign * (y.price / x.price - 1.0) * 1e4
        gaps.append(gap)
        if abs(gap) > price_tol_bps:
            why = "spread crossed + book walked" if gap > 0 else "book better than the bar open"
            divs.append(
                Divergence(
                    k,
                    "price",
                    f"{x.side}: candle {x.price:.8g} vs non_candle {y.price:.8g} ({gap:+.2f} bps, {why})",
                )
            )
        if x.qty > 0 and abs(y.qty / x.qty - 1.0) > 1e-3:
            divs.append(
                Divergence(
                    k,
                    "qty",
                    f"{x.side}: candle {x.qty:.8g} vs non_candle {y.qty:.8g} "
                    "(lot-size rounding, fee in base, prior P&L)",
                )
            )
    if non_candle.denied:
        for note in non_candle.notes:
            divs.append(Divergence(-1, "denied", note))
    same_data = candle.data_fingerprint == non_candle.data_fingerprint
    if not same_data:
        divs.append(
            Divergence(
                -1,
                "data",
                "different data fingerprints (bars derived from an L2 stream hash differently "
                "from the stream itself)",
            )
        )
    return CompareReport(
        candle=candle.metrics(),
        non_candle=non_candle.metrics(),
        divergences=tuple(divs),
        same_data=same_data,
        same_strategy=candle.strategy_fingerprint == non_candle.strategy_fingerprint,
        mean_price_gap_bps=sum(gaps) / len(gaps) if gaps else 0.0,
    )
