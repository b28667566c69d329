"""`quantops soak --short` end to end, the CI form of the soak (issue 19 item 6): the sample platform
under every fault kind of the default schedule in 2 simulated hours at x60 (soak-short.yaml, about
2.5 minutes), then the invariant checker over its records — every invariant holds, every fault that
met the platform is detected and recovered from, and the report lands in the postmortem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
import yaml

from quantops_trading.venue.config import FaultKind

ROOT = Path(__file__).resolve().parents[2]
VENUE_KINDS = get_args(FaultKind)


def _platform(tmp_path: Path) -> Path:
    """The README's sample platform, with a free dashboard port (tests run side by side), a momentum
    strategy that warms up in 12 polls instead of 48, a book stale after 5 s (the short form's
    stale book lasts 10 s of wall time), and no loss-streak or adverse-cluster holds
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
            d["spec"]["config"]["maxBookAgeSeconds"] = 5  # a 10 s stale book must show at x60
    out = tmp_path / "platform.yaml"
    out.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return out


@pytest.mark.slow
def test_the_short_soak_meets_every_fault_kind_and_passes_every_invariant(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cmd = [sys.executable, "-m", "quantops_local.cli", "--state-dir", str(state), "soak", "--short",
           "-f", str(_platform(tmp_path)), "--warmup-timeout", "60"]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=420)
    report = json.loads((state / "soak" / "report.json").read_text())
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert report["ok"] and report["failed"] == []
    faults = report["faults"]
    assert {f["kind"] for f in faults} == set(VENUE_KINDS) | {"kill_agent", "human_gate"}
    assert report["run"]["speed"] == 60 and report["run"]["hours"] == 2
    for f in faults:
        assert f["detected"] or not f["exercised"], f
        assert f["recovered"] is not False, f
    assert sum(f["exercised"] for f in faults) >= len(faults) - 2  # at most the two idle order-path ones
    injected = [json.loads(line) for line in (state / "soak" / "faults.jsonl").read_text().splitlines()]
    assert {f["id"] for f in injected} == {f["id"] for f in faults}
    assert report["figures"]["ordersSubmitted"] >= 1 and report["figures"]["manualInterventions"] == 0
    assert "RESULT: all invariants hold" in done.stdout
    limits = next(c for c in report["checks"] if c["name"] == "risk_limits_respected")
    assert limits["ok"] and not limits["summary"].startswith("0 "), limits  # orders were held to limits
    kinds = {k["kind"]: k for k in report["byKind"]}
    assert set(kinds) == {f["kind"] for f in faults} and kinds["kill_agent"]["count"] == 4
    (postmortem,) = (state / "postmortems").glob("postmortem-*.md")
    text = postmortem.read_text()
    assert "## Soak report" in text and "| kill_agent | 4 | 4/4 |" in text
