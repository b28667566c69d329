"""`quantops up`'s readable terminal lines from audit records (quantops_local.terminal)."""

from __future__ import annotations

import json
from pathlib import Path

from quantops_local.terminal import AuditFollower, human_line

RECORDS = [  # as the supervisor and the agents write them (two time formats)
    {"at": "2026-12-07T22:28:47.277385+00:00", "event": "SupervisorStarted", "url": "http://127.0.0.1:43031",
     "waves": [["venue"], ["canary", "trader"], ["boss"]]},
    {"at": "2026-12-07T22:28:47.280360+00:00", "event": "AgentStarted", "agent": "venue", "pid": 7266,
     "port": 54723, "reason": "no dependencies"},
    {"at": 1796682532.6807353, "event": "CanaryPassed", "agent": "canary", "ms": 147.8},
    {"at": "2026-12-07T22:28:59.424367+00:00", "event": "GateChanged", "scope": "Strategy/fast-momo",
     "old": "GO", "new": "STOP", "reason": "demo flip", "who": "cli:root"},
    {"at": 1796682536.4179807, "event": "ClusterThrottled", "agent": "trader",
     "reason": "losing close of fast-momo on BTC/USDT (-1.3146)"},
    {"at": "2026-12-07T22:29:01+00:00", "event": "AgentRestartScheduled", "agent": "trader", "restarts": 1,
     "delay": 1.2, "reason": "exited with -9"},
]  # fmt: skip


def test_each_record_reads_as_one_line_and_periodic_ones_stay_quiet() -> None:
    lines = [human_line(r) for r in RECORDS]
    assert lines == [
        "22:28:47 supervisor on http://127.0.0.1:43031; agents start in waves: venue → canary, trader → boss",
        "22:28:47 venue started (pid 7266): no dependencies",
        None,
        "22:28:59 gate Strategy/fast-momo: GO → STOP by cli:root: demo flip",
        "22:28:56 ClusterThrottled trader: losing close of fast-momo on BTC/USDT (-1.3146)",
        "22:29:01 trader exited (exited with -9); restart #1 in 1.2 s",
    ]


def test_the_follower_prints_each_complete_record_once(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    follow = AuditFollower(audit)
    assert follow.lines() == []  # not written yet
    with audit.open("w") as f:
        f.write(json.dumps(RECORDS[1]) + "\n" + json.dumps(RECORDS[3])[:20])  # the second half-written
    assert follow.lines() == ["22:28:47 venue started (pid 7266): no dependencies"]
    with audit.open("a") as f:
        f.write(json.dumps(RECORDS[3])[20:] + "\n" + json.dumps(RECORDS[2]) + "\n")
    assert follow.lines() == ["22:28:59 gate Strategy/fast-momo: GO → STOP by cli:root: demo flip"]
    assert follow.lines() == []
