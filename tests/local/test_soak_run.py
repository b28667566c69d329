"""`quantops soak` end to end: the sample platform under a small seeded fault schedule (a 429
storm, a person's global STOP and back, kill -9 of the canary), then the invariant checker over
its records — every invariant holds and every fault is detected and recovered from. At x600 a poll
is a 10-minute bar: the strategy trades often enough that recovery does not wait on the market."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# at x600: the storm 3-15 s of wall time, the STOP 16-19 s, the kill at 21 s, the run ends at 24 s
SCHEDULE = """
seed: 5
detectWithinSeconds: 30
recoverWithinSeconds: 90
faults:
  - {kind: rate_limit, at: 30m, duration: 2h, rule: {rate: 1.0, retryAfterS: 1}}
  - {kind: human_gate, target: global, at: 2h40m, duration: 30m, gate: STOP}
  - {kind: kill_agent, target: canary, at: 3h30m}
"""


def _platform(tmp_path: Path) -> Path:
    """The README's sample platform, with a free dashboard port (tests run side by side), a momentum
    strategy that warms up in 12 polls instead of 48, and no loss-streak or adverse-cluster holds
    (their STOPs are right on a losing strategy, but then the last fault's recovery would depend
    on the strategy's luck in a run this short). The rest is unchanged."""
    docs = list(yaml.safe_load_all((ROOT / "crds/samples/platform.yaml").read_text()))
    for d in docs:
        if d["kind"] == "Agent" and d["spec"]["role"] == "supervisor":
            d["spec"]["config"]["dashboardPort"] = 0
        if d["kind"] == "Strategy" and d["metadata"]["name"] == "btc-momentum":
            d["spec"]["params"] |= {"fast": 3, "slow": 12}
        if d["kind"] == "RiskPolicy" and d["metadata"]["name"] == "momentum-limits":
            d["spec"]["maxConsecutiveLosses"] = 1000
        if d["kind"] == "Agent" and d["spec"]["role"] == "trader":
            d["spec"]["config"]["adverseCluster"] = {"throttleAt": 1000, "pauseAt": 1000}
    out = tmp_path / "platform.yaml"
    out.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return out


@pytest.mark.slow
def test_a_short_soak_passes_every_invariant(tmp_path: Path) -> None:
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(SCHEDULE)
    state = tmp_path / "state"
    cmd = [sys.executable, "-m", "quantops_local.cli", "--state-dir", str(state), "soak",
           "-f", str(_platform(tmp_path)), "--hours", "4", "--speed", "600", "--schedule", str(schedule),
           "--warmup-timeout", "60"]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    report = json.loads((state / "soak" / "report.json").read_text())
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert report["ok"] and report["failed"] == []
    faults = {f["kind"]: f for f in report["faults"]}
    assert set(faults) == {"rate_limit", "human_gate", "kill_agent"}
    assert all(f["detected"] and f["recovered"] for f in faults.values()), faults
    injected = [json.loads(line) for line in (state / "soak" / "faults.jsonl").read_text().splitlines()]
    assert {f["id"] for f in injected} == {f["id"] for f in report["faults"]}
    assert all({"kind", "target", "start", "end", "seed"} <= set(f) for f in injected)
    assert report["figures"]["ordersSubmitted"] >= 1 and report["figures"]["manualInterventions"] == 0
    assert "RESULT: all invariants hold" in done.stdout
    limits = next(c for c in report["checks"] if c["name"] == "risk_limits_respected")
    assert limits["ok"] and not limits["summary"].startswith("0 "), limits  # orders were held to limits
    kinds = {k["kind"]: k for k in report["byKind"]}
    assert set(kinds) == set(faults) and all(k["count"] == k["detected"] == 1 for k in kinds.values())
    assert report["run"]["faults"] == 3 and report["run"]["replayMsAtT0"] > 0
    (postmortem,) = (state / "postmortems").glob("postmortem-*.md")
    text = postmortem.read_text()
    assert "## Soak report" in text and "| rate_limit | 1 | 1/1 |" in text
