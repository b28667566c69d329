"""Budget allocation (52) with explainability reports (60), demotion (63), governor simulation (64)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from risk_support import permissive, req

from quantops_api import Stage
from quantops_trading.risk.allocator import AllocatorConfig, BudgetAllocator, StrategyScore, allocate
from quantops_trading.risk.lifecycle import SimOrder, decide_demotion, demote, simulate_promotion
from quantops_trading.storage.eventlog import EventLog

SCORES = [
    StrategyScore("good", confidence=0.62, calibration_error=0.02, samples=200),
    StrategyScore("miscalibrated", confidence=0.62, calibration_error=0.20, samples=200),
    StrategyScore("unsure", confidence=0.51, calibration_error=0.01, samples=500),
    StrategyScore("young", confidence=0.62, calibration_error=0.02, samples=10),
]


def test_52_allocator_penalises_low_confidence_and_poor_calibration() -> None:
    res = allocate(Decimal(10_000), SCORES, AllocatorConfig(max_share=0.9))
    a = res.amounts()
    assert a["unsure"] == 0 and a["good"] > a["miscalibrated"] > 0 and a["good"] > a["young"] > 0
    assert sum(a.values()) + res.reserve == Decimal(10_000) and res.reserve >= 0
    assert "calibration_penalty" in res.allocations["miscalibrated"].explanation
    assert "min_confidence" in res.allocations["unsure"].explanation
    assert "evidence_penalty" in res.allocations["young"].explanation
    assert all(x.explanation for x in res.allocations.values())


def test_52_max_share_caps_and_redistributes() -> None:
    res = allocate(Decimal(1000), SCORES, AllocatorConfig(max_share=0.5))
    assert res.amounts()["good"] == Decimal("500.00")
    assert "max_share" in res.allocations["good"].explanation
    only = allocate(Decimal(1000), SCORES[:1], AllocatorConfig(max_share=0.5))
    assert only.amounts()["good"] == Decimal("500.00") and only.reserve == Decimal("500.00")


def test_60_every_budget_change_writes_an_explainability_report(tmp_path: Path) -> None:
    with EventLog(tmp_path / "audit.db") as log:
        alloc = BudgetAllocator(audit=log, clock=lambda: 5.0)
        alloc.rebalance(Decimal(10_000), SCORES)
        alloc.rebalance(Decimal(10_000), SCORES)  # nothing changed: no report
        worse = [*SCORES[:1], StrategyScore("miscalibrated", 0.62, 0.24, 200), *SCORES[2:]]
        alloc.rebalance(Decimal(10_000), worse)
        entries = [e.data() for e in log.entries()]
    assert [e["kind"] for e in entries] == ["risk_budget_changed"] * 2
    report = entries[1]["report"]
    assert set(report["what_changed"]) >= {"miscalibrated"}
    assert report["inputs"]["miscalibrated"]["calibration_error"] == 0.24
    assert any("calibration_penalty" in r for r in report["rules"]["miscalibrated"])
    assert "miscalibrated" in entries[1]["explanation"]


def test_63_realised_loss_demotes_hot_to_warm_to_cold_with_audit(tmp_path: Path) -> None:
    cap = Decimal(10_000)
    assert decide_demotion("s", Stage.HOT, Decimal(-400), cap) is None
    d1 = decide_demotion("s", Stage.HOT, Decimal(-600), cap)
    assert d1 is not None and d1.new is Stage.WARM
    assert decide_demotion("s", Stage.WARM, Decimal(-600), cap) is None
    d2 = decide_demotion("s", Stage.WARM, Decimal(-1200), cap)
    assert d2 is not None and d2.new is Stage.COLD
    assert decide_demotion("s", Stage.COLD, Decimal(-5000), cap) is None
    with EventLog(tmp_path / "audit.db") as log:
        demote(d1, log, 1.0)
        demote(d2, log, 2.0)
        rows = [e.data() for e in log.entries()]
    assert [(r["old"], r["new"]) for r in rows] == [("HOT", "WARM"), ("WARM", "COLD")]
    assert "realised loss" in rows[0]["reason"]


def test_64_governor_simulation_refuses_promotion_that_would_breach(tmp_path: Path) -> None:
    target = permissive(max_pair_exposure=1000.0, max_orders_per_minute=3)
    calm = [SimOrder(60.0 * i, req("buy" if i % 2 == 0 else "sell", "2", strategy="cand")) for i in range(6)]
    ok = simulate_promotion("cand", calm, target)
    assert ok.passed and not ok.breaches and "may proceed" in ok.explain()
    greedy = [SimOrder(60.0 * i, req("buy", "3", strategy="cand")) for i in range(5)]  # 300, 600, 900, 1200
    with EventLog(tmp_path / "audit.db") as log:
        bad = simulate_promotion("cand", greedy, target, audit=log)
        (row,) = [e.data() for e in log.entries()]
    assert not bad.passed and bad.breaches[0].rule == "pair_exposure" and bad.breaches[0].ts == 180.0
    assert "refused" in bad.explain() and row["passed"] is False
    burst = [SimOrder(float(i), req("buy", "0.1", strategy="cand")) for i in range(5)]
    rate = simulate_promotion("cand", burst, target)
    assert [b.rule for b in rate.breaches] == ["overtrade", "overtrade"] and rate.breaches[0].ts == 3.0
