"""One-command rollback (roadmap 99), local path end to end through the `quantops` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from quantops_local import manifests, rollback

QUANTOPS = [sys.executable, "-m", "quantops_local.cli"]

MANIFEST = """apiVersion: quantops.dev/v1alpha1
kind: RiskPolicy
metadata: {name: global}
spec: {gate: GO}
---
apiVersion: quantops.dev/v1alpha1
kind: Strategy
metadata: {name: mom}
spec:
  entrypoint: "quantops_trading.strategies.momentum:Momentum"
  pairs: [BTC/USDT]
  params: {window: WINDOW}
"""


def _up(state: Path, manifest: Path) -> None:
    res = subprocess.run(
        [*QUANTOPS, "--state-dir", str(state), "up", "-f", str(manifest), "--duration", "0.2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr


def test_rollback_strategy_locally_end_to_end(tmp_path: Path) -> None:
    state, m = tmp_path / "state", tmp_path / "m.yaml"
    m.write_text(MANIFEST.replace("WINDOW", "5"))
    _up(state, m)
    m.write_text(MANIFEST.replace("WINDOW", "20"))
    _up(state, m)
    _up(state, m)  # unchanged → no new version
    vs = rollback.versions(state, "mom")
    assert [v["spec"]["params"]["window"] for v in vs] == [5, 20]
    res = subprocess.run(
        [*QUANTOPS, "--state-dir", str(state), "rollback", "strategy", "mom"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert (out["fromVersion"], out["toVersion"], out["newVersion"]) == (2, 1, 3)
    restored = json.loads(Path(out["restoredManifest"]).read_text())
    assert restored["kind"] == "Strategy" and restored["spec"]["params"] == {"window": 5}
    audit = [json.loads(x) for x in (state / "audit.jsonl").read_text().splitlines()]
    assert any(a["event"] == "StrategyRolledBack" and a["strategy"] == "mom" for a in audit)
    # the manifest still says window 20, but `up` runs the restored version until the manifest changes
    objs = rollback.apply_history(state, manifests.load([m]))
    strat = next(o for o in objs if o.name == "mom")
    assert strat.to_wire()["spec"]["params"] == {"window": 5}
    _up(state, m)
    assert len(rollback.versions(state, "mom")) == 3, "the restored spec is what ran; nothing new recorded"
    m.write_text(MANIFEST.replace("WINDOW", "7"))
    _up(state, m)
    assert rollback.versions(state, "mom")[-1]["spec"]["params"] == {"window": 7}, "an edited manifest wins"
    # nothing to roll back to for an unknown strategy → exit 2 with the reason
    bad = subprocess.run(
        [*QUANTOPS, "--state-dir", str(state), "rollback", "strategy", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and "no history" in bad.stderr


def test_rollback_of_a_rollback_goes_further_back(tmp_path: Path) -> None:
    objs = manifests.load([_write(tmp_path, "1")])
    rollback.record(tmp_path, objs)
    rollback.record(tmp_path, manifests.load([_write(tmp_path, "2")]))
    rollback.record(tmp_path, manifests.load([_write(tmp_path, "3")]))
    assert rollback.rollback_local(tmp_path, "mom")["toVersion"] == 2
    assert rollback.rollback_local(tmp_path, "mom")["toVersion"] == 1
    with pytest.raises(rollback.RollbackError, match="no earlier version"):
        rollback.rollback_local(tmp_path, "mom")


def _write(d: Path, w: str) -> Path:
    p = d / f"m{w}.yaml"
    p.write_text(MANIFEST.replace("WINDOW", w))
    return p
