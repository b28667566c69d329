"""The soak's driver: each fault starts and ends at its simulated instant (wall = simulated / speed),
in schedule order, one faults.jsonl line per fault; a kill has no end; a fault still on when the run
ends is taken back and logged."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from quantops_local import soak
from quantops_local.faultplan import PlannedFault


class FakePlatform:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float]] = []

    def start_fault(self, f: PlannedFault) -> dict[str, Any]:
        self.calls.append(("start", f.id, time.time()))
        return {"ruleId": len(self.calls)}

    def end_fault(self, f: PlannedFault, started: dict[str, Any]) -> None:
        self.calls.append(("end", f.id, time.time()))


def _fault(fid: str, kind: str, start_h: float, end_h: float, recover: bool = True) -> PlannedFault:
    return PlannedFault(id=fid, kind=kind, target="x", start=start_h * 3600, end=end_h * 3600, seed=1,
                        recover=recover)  # fmt: skip


def test_faults_start_and_end_at_their_simulated_instants(tmp_path: Path) -> None:
    plan = [
        _fault("a", "rate_limit", 1, 2),
        _fault("k", "kill_agent", 1.5, 1.5),
        _fault("w", "wrong_fill", 2.5, 9, recover=False),  # still on when the run ends
    ]
    fake, out, speed = FakePlatform(), tmp_path / "faults.jsonl", 7200.0  # 1 h = 0.5 s
    t0 = time.time()
    last_end = soak._drive(fake, plan, t0, speed, 3 * 3600 / speed, out)  # type: ignore[arg-type]
    assert [(c, f) for c, f, _ in fake.calls] == [
        ("start", "a"), ("start", "k"), ("end", "a"), ("start", "w"), ("end", "w")
    ]  # fmt: skip
    at = {(c, f): t - t0 for c, f, t in fake.calls}
    for (phase, fid), hours in {
        ("start", "a"): 1,
        ("start", "k"): 1.5,
        ("end", "a"): 2,
        ("start", "w"): 2.5,
    }.items():
        assert hours / 2 - 0.01 <= at[(phase, fid)] <= hours / 2 + 0.2, (phase, fid, at)
    assert 1.5 - 0.01 <= at[("end", "w")] <= 1.5 + 0.2  # taken back when the run ended, not at 9 h
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [f["id"] for f in lines] == ["k", "a", "w"]
    assert all({"kind", "target", "start", "end", "seed", "startedAt", "endedAt"} <= set(f) for f in lines)
    kill = lines[0]
    assert kill["startedAt"] == kill["endedAt"] and kill["injected"] == {"ruleId": 2}
    a = next(f for f in lines if f["id"] == "a")
    assert abs(last_end - a["endedAt"]) < 1e-6  # w is not expected to recover: not the last end
