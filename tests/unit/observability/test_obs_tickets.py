"""Incident tickets (roadmap 96): opened on repeated failures, deduplicated, evidence attached."""

from __future__ import annotations

import json
from pathlib import Path

from quantops_trading.observability.tickets import Ticketer, failure_key


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def test_ticket_opens_at_threshold_with_evidence_and_dedups(tmp_path: Path) -> None:
    clock = Clock()
    tk = Ticketer(tmp_path / "inc", threshold=3, window_seconds=60, evidence_lines=2, clock=clock)
    audit = [
        {"event": "AgentStarted", "agent": "t"},
        {"event": "AgentRestartScheduled", "agent": "t", "reason": "x"},
    ]
    rec = audit[1]
    key = failure_key(rec)
    assert key == "agent/t:AgentRestartScheduled" and failure_key({"event": "GateChanged"}) is None
    status = {"name": "t", "phase": "BackingOff", "restarts": 3}
    assert tk.failure(key, "exited with 1", audit, status) is None
    clock.t = 10
    assert tk.failure(key, "exited with 1", audit, status) is None
    clock.t = 20
    t = tk.failure(key, "exited with 1", audit, status)
    assert t is not None and t.id.startswith("INC-")
    md = (tmp_path / "inc" / f"{t.id}.md").read_text()
    assert "repeated 3×" in md and '"phase": "BackingOff"' in md and "AgentRestartScheduled" in md
    data = json.loads((tmp_path / "inc" / f"{t.id}.json").read_text())
    assert data["evidence"]["status"] == status and len(data["evidence"]["audit"]) == 2
    assert t.webhook_payload()["text"].startswith(":rotating_light: incident INC-")
    clock.t = 30
    assert tk.failure(key, "again", audit, status) is None, "an open ticket is updated, not duplicated"
    assert len(list((tmp_path / "inc").glob("*.json"))) == 1
    assert [o["reason"] for o in tk.tickets()[0]["occurrences"]] == ["exited with 1", "again"]
    tk.resolve(t.id)
    assert tk.tickets()[0]["status"] == "resolved"
    for s in (40, 41):
        clock.t = s
        assert tk.failure(key, "new burst", audit, status) is None
    clock.t = 42
    assert tk.failure(key, "new burst", audit, status) is not None, "after resolving a new burst reopens"


def test_failures_outside_the_window_do_not_count(tmp_path: Path) -> None:
    clock = Clock()
    tk = Ticketer(tmp_path, threshold=2, window_seconds=10, clock=clock)
    assert tk.failure("k", "a", [], None) is None
    clock.t = 11
    assert tk.failure("k", "b", [], None) is None
    clock.t = 12
    assert tk.failure("k", "c", [], None) is not None
