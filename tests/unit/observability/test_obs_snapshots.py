"""Heartbeat snapshots (roadmap 92) and the incremental audit tail."""

from __future__ import annotations

from pathlib import Path

from quantops_trading.observability.snapshots import AuditTail, HeartbeatStore, condense

STATUS = {
    "agents": [
        {
            "name": "t",
            "phase": "Running",
            "ready": True,
            "effectiveGate": "GO",
            "restarts": 1,
            "queueLength": 4,
            "openOrders": 0,
            "lastHeartbeat": "2024-01-01T00:00:00+00:00",
            "message": "noise",
            "pid": 9,
        },
    ],
    "gates": {"RiskPolicy/global": "GO"},
}


def test_store_persists_condensed_snapshots_and_serves_history(tmp_path: Path) -> None:
    store = HeartbeatStore(tmp_path / "hb.jsonl", keep=4)
    for i in range(7):
        store.append(condense(STATUS, at=100.0 + 5 * i))
    snap = store.history(limit=1)[0]
    assert snap["agents"]["t"] == {
        "phase": "Running",
        "ready": True,
        "gate": "GO",
        "restarts": 1,
        "queue": 4,
        "openOrders": 0,
        "lastHeartbeat": "2024-01-01T00:00:00+00:00",
    }
    assert [s["at"] for s in store.history(since=120.0)] == [125.0, 130.0]
    assert len(store.history()) <= 5, "compacted to the newest lines"
    assert store.history()[-1]["at"] == 130.0
    again = HeartbeatStore(tmp_path / "hb.jsonl", keep=4)  # survives a restart
    assert again.history()[-1]["at"] == 130.0


def test_audit_tail_reads_only_whole_new_lines(tmp_path: Path) -> None:
    p = tmp_path / "audit.jsonl"
    tail = AuditTail(p)
    assert tail.poll() == []
    p.write_text('{"event": "A"}\n{"event": "B", "x"')
    assert [r["event"] for r in tail.poll()] == ["A"]
    with p.open("a") as f:
        f.write(': 1}\nnot json\n{"event": "C"}\n')
    assert [r["event"] for r in tail.poll()] == ["B", "C"]
    assert [r["event"] for r in tail.of("A", "C")] == ["A", "C"]
