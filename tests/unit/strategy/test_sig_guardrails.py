"""47: spread-arbitrage guardrails — leg imbalance, time between legs, fee-adjusted edge, venue health."""

from __future__ import annotations

from decimal import Decimal

from quantops_trading.signals import ArbGuardConfig, Leg, VenueHealth, check_entry, check_execution

CFG = ArbGuardConfig(fee_bps={"binance": 1.0, "binance-usdm": 0.5}, min_edge_bps=1.0)
NOW = 1_000_000
HEALTH = {
    "binance": VenueHealth("binance", True, 20.0, NOW - 100),
    "binance-usdm": VenueHealth("binance-usdm", True, 30.0, NOW - 50),
}


def legs(qb: str = "0.01", gap: int = 100, slip: float = 0.0) -> tuple[Leg, Leg]:
    return (
        Leg("binance", Decimal("-0.01"), Decimal(61840), NOW, slip),
        Leg("binance-usdm", Decimal(qb), Decimal(61800), NOW - gap, slip),
    )


def test_sig_guard_allows_a_clean_pair_and_reports_net_edge() -> None:
    v = check_entry(legs(), 4.0, HEALTH, NOW, CFG)
    assert v.allowed and v.reasons == () and v.net_edge_bps == 2.5


def test_sig_guard_each_rule_blocks() -> None:
    assert "imbalance" in check_entry(legs(qb="0.02"), 4.0, HEALTH, NOW, CFG).reasons[0]
    assert "ms apart" in check_entry(legs(gap=900), 4.0, HEALTH, NOW, CFG).reasons[0]
    thin = check_entry(legs(slip=0.5), 3.0, HEALTH, NOW, CFG)
    assert not thin.allowed and thin.net_edge_bps == 0.5 and "net edge" in thin.reasons[0]
    sick = dict(HEALTH, binance=VenueHealth("binance", False))
    assert "unhealthy" in check_entry(legs(), 4.0, sick, NOW, CFG).reasons[0]
    slow = dict(HEALTH, binance=VenueHealth("binance", True, 900.0, NOW))
    assert "latency" in check_entry(legs(), 4.0, slow, NOW, CFG).reasons[0]
    stale = dict(HEALTH, **{"binance-usdm": VenueHealth("binance-usdm", True, 1.0, NOW - 5_000)})
    assert "stale" in check_entry(legs(), 4.0, stale, NOW, CFG).reasons[0]
    same_side = (legs()[0], Leg("binance-usdm", Decimal("-0.01"), Decimal(61800), NOW))
    assert "opposite" in check_entry(same_side, 4.0, HEALTH, NOW, CFG).reasons[0]
    many = check_entry(legs(qb="0.05", gap=900), 0.0, {}, NOW, CFG)
    assert len(many.reasons) == 5 and many.action == "skip"


def test_sig_guard_executed_legs_flatten_when_unhedged() -> None:
    assert check_execution(legs(), CFG).allowed
    late = check_execution(legs(gap=2_000), CFG)
    assert not late.allowed and late.action == "flatten"
    half = check_execution(legs(qb="0.005"), CFG)
    assert half.action == "flatten" and "imbalance" in half.reasons[0]
