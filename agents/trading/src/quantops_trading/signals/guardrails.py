"""Inter-market spread arbitrage guardrails: imbalance, leg timing, fee-adjusted edge, venue health (47).

Why it exists: a two-leg trade is only an arbitrage while both legs fill at about the same time,
size and price. One leg filled and the other not is a naked directional position; an "edge" that
does not survive both venues' fees and slippage is a donation. ``CrossVenueSpread`` proposes legs;
this module decides whether they may go out (:func:`check_entry`) and whether executed legs are
still a hedged pair or must be flattened (:func:`check_execution`).

Checks (every failing one is reported, not only the first):

* **venue health** — each leg's venue is healthy, its latency <= ``max_venue_latency_ms`` and its
  last quote no older than ``max_quote_age_ms``;
* **leg imbalance** — ``|notional_a - notional_b| / max(notional)`` <= ``max_leg_imbalance``;
* **fee-adjusted edge** — ``gross_edge_bps - fees_a - fees_b - slippage_a - slippage_b`` >=
  ``min_edge_bps`` (taker fees per venue from ``fee_bps``, default ``default_fee_bps``);
* **time between legs** — quotes (entry) or fills (execution) of the two legs no more than
  ``max_leg_gap_ms`` apart.

What it must not do: send, cancel or resize orders — it returns a :class:`GuardVerdict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ArbGuardConfig", "GuardVerdict", "Leg", "VenueHealth", "check_entry", "check_execution"]


class ArbGuardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_leg_imbalance: float = Field(default=0.05, ge=0.0, le=1.0)
    max_leg_gap_ms: int = Field(default=500, ge=0)
    min_edge_bps: float = Field(default=1.0, ge=0.0)
    fee_bps: dict[str, float] = Field(default_factory=dict, description="Taker fee per venue, bps.")
    default_fee_bps: float = Field(default=5.0, ge=0.0)
    max_venue_latency_ms: float = Field(default=300.0, gt=0.0)
    max_quote_age_ms: int = Field(default=2_000, ge=0)


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg: venue, signed quantity (+buy / -sell), price and the time of its quote or fill."""

    venue: str
    quantity: Decimal
    price: Decimal
    ts_ms: int
    slippage_bps: float = 0.0

    @property
    def notional(self) -> Decimal:
        return abs(self.quantity) * self.price


@dataclass(frozen=True, slots=True)
class VenueHealth:
    venue: str
    healthy: bool = True
    latency_ms: float = 0.0
    last_quote_ts_ms: int | None = None


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    allowed: bool
    reasons: tuple[str, ...]
    net_edge_bps: float | None = None
    action: str = "proceed"


def _imbalance(a: Leg, b: Leg, cfg: ArbGuardConfig) -> list[str]:
    big = max(a.notional, b.notional)
    if big == 0:
        return ["legs have zero notional"]
    imb = float(abs(a.notional - b.notional) / big)
    if imb > cfg.max_leg_imbalance:
        return [f"leg imbalance {imb:.1%} > {cfg.max_leg_imbalance:.1%}"]
    if (a.quantity > 0) == (b.quantity > 0):
        return ["legs must be opposite (one buy, one sell)"]
    return []


def _gap(a: Leg, b: Leg, cfg: ArbGuardConfig, what: str) -> list[str]:
    gap = abs(a.ts_ms - b.ts_ms)
    return [f"{what} {gap} ms apart > {cfg.max_leg_gap_ms} ms"] if gap > cfg.max_leg_gap_ms else []


def check_entry(
    legs: tuple[Leg, Leg],
    gross_edge_bps: float,
    health: Mapping[str, VenueHealth],
    now_ms: int,
    config: ArbGuardConfig | None = None,
) -> GuardVerdict:
    """May this pair of legs be sent? ``gross_edge_bps`` is the spread captured before costs."""
    cfg = config or ArbGuardConfig()
    a, b = legs
    reasons: list[str] = []
    for leg in legs:
        h = health.get(leg.venue)
        if h is None or not h.healthy:
            reasons.append(f"venue {leg.venue} unhealthy or unknown")
            continue
        if h.latency_ms > cfg.max_venue_latency_ms:
            reasons.append(
                f"venue {leg.venue} latency {h.latency_ms:.0f} ms > {cfg.max_venue_latency_ms:.0f} ms"
            )
        if h.last_quote_ts_ms is None or now_ms - h.last_quote_ts_ms > cfg.max_quote_age_ms:
            reasons.append(f"venue {leg.venue} quotes stale")
    reasons += _imbalance(a, b, cfg)
    reasons += _gap(a, b, cfg, "leg quotes")
    costs = sum(cfg.fee_bps.get(leg.venue, cfg.default_fee_bps) + leg.slippage_bps for leg in legs)
    net = gross_edge_bps - costs
    if net < cfg.min_edge_bps:
        reasons.append(
            f"net edge {net:.2f} bps (gross {gross_edge_bps:.2f} - costs {costs:.2f})"
            f" < {cfg.min_edge_bps} bps"
        )
    return GuardVerdict(not reasons, tuple(reasons), net, "proceed" if not reasons else "skip")


def check_execution(fills: tuple[Leg, Leg], config: ArbGuardConfig | None = None) -> GuardVerdict:
    """Are the executed legs still a hedged pair? If not, ``action='flatten'`` (unwind the excess)."""
    cfg = config or ArbGuardConfig()
    a, b = fills
    reasons = _imbalance(a, b, cfg) + _gap(a, b, cfg, "leg fills")
    return GuardVerdict(not reasons, tuple(reasons), None, "proceed" if not reasons else "flatten")
