"""Audit report diff to growth_supervisor (roadmap 97): what changed since the last report."""

from __future__ import annotations

from pathlib import Path

from quantops_trading.observability.auditdiff import AuditReporter, snapshot


def test_report_diffs_policies_strategies_stages_and_budgets(tmp_path: Path) -> None:
    versions = {
        "mom": [{"version": 1, "fingerprint": "a" * 64, "spec": {"params": {"w": 5}, "pairs": ["BTC/USDT"]}}]
    }
    status = {"gates": {"RiskPolicy/global": "GO", "Agent/t": "GO"}}
    rep = AuditReporter(tmp_path / "reports")
    first = rep.report(snapshot(status, [], versions))
    assert first.seq == 1 and "+policies / RiskPolicy/global gate = GO" in first.diff
    same = rep.report(snapshot(status, [], versions))
    assert same.diff == "" and same.audit_record()["changes"] == 0, "nothing changed → empty diff"
    versions["mom"].append(
        {"version": 2, "fingerprint": "b" * 64, "spec": {"params": {"w": 9}, "pairs": ["BTC/USDT"]}}
    )
    records = [
        {"event": "StageChanged", "strategy": "mom", "old": "COLD", "new": "WARM", "at": 1.0},
        {"kind": "risk_budget_changed", "total": 1000.0, "allocations": {"mom": 400.0}, "ts_ns": 1},
    ]
    status["gates"]["RiskPolicy/global"] = "PAUSE"
    third = rep.report(snapshot(status, records, versions))
    lines = third.diff.splitlines()
    assert "-policies / RiskPolicy/global gate = GO" in lines
    assert "+policies / RiskPolicy/global gate = PAUSE" in lines
    assert '-strategies / mom params = {"w": 5}' in lines and '+strategies / mom params = {"w": 9}' in lines
    assert "+stages / mom current = WARM" in lines and "+budgets / mom = 400" in lines
    rec = third.audit_record()
    assert rec["event"] == "AuditReportDiff" and rec["stream"] == "growth_supervisor" and rec["changes"] == 9
    assert (tmp_path / "reports" / "report-0003.diff").read_text() == third.diff
    assert AuditReporter(tmp_path / "reports").report([]).seq == 4, "numbering survives a restart"
