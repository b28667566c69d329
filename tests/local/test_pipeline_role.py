"""The pipeline agent under `quantops up` (tests/local/platform-pipeline.yaml), real processes:

it runs its scheduled cycles on real candles, promotes neo-momentum COLD → WARM and keeps
dash-momentum COLD; the supervisor's status shows the new stages (and the audit stream records
each write); the agent reports its cycles and queue; every decision is in its hash-chained event
log with the fingerprint; a gate STOP on the agent makes it skip cycles (fail closed); a bad
status patch is refused naming the field; after a supervisor restart the stages are still there.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from supervisor_support import cli_headers

from quantops_trading.storage.eventlog import EventLog

HERE = Path(__file__).parent
QUANTOPS = [sys.executable, "-m", "quantops_local.cli"]


@dataclass
class Up:
    state: Path
    proc: subprocess.Popen[bytes]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*QUANTOPS, "--state-dir", str(self.state), *args], capture_output=True, text=True, timeout=30
        )

    def status(self) -> dict[str, Any]:
        return dict(json.loads(self.cli("status", "--json").stdout))

    def url(self) -> str:
        return str(json.loads((self.state / "supervisor.json").read_text())["url"])

    def agent_view(self, name: str) -> dict[str, Any]:
        port = next(a for a in self.status()["agents"] if a["name"] == name)["port"]
        return dict(httpx.get(f"http://127.0.0.1:{port}/status", timeout=2).json())

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in (self.state / "audit.jsonl").read_text().splitlines() if x.strip()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(pred: Callable[[], Any], timeout: float, step: float = 0.1) -> Any:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (httpx.HTTPError, StopIteration, KeyError, json.JSONDecodeError, FileNotFoundError):
            last = None
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out; last={last!r}")


def _start(state: Path, log: Path) -> Up:
    proc = subprocess.Popen(
        [*QUANTOPS, "--state-dir", str(state), "up", "-f", str(HERE / "platform-pipeline.yaml"),
         "--duration", "120"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    up = Up(state, proc)
    wait_for(lambda: (state / "supervisor.json").exists() and up.status(), 20)
    return up


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    u = _start(tmp_path / "state", tmp_path / "up.log")
    try:
        yield u
    finally:
        u.stop()


def test_pipeline_agent_promotes_and_the_supervisor_shows_the_stage(up: Up, tmp_path: Path) -> None:
    strategies = wait_for(
        lambda: (s := up.status()["strategies"])["neo-momentum"].get("stage") == "WARM" and s, 60, 0.2
    )
    neo, dash = strategies["neo-momentum"], strategies["dash-momentum"]
    # the transition keeps why (the governor passed: a failed one rejects, it never promotes);
    # `evidence` is the latest evaluation, which the next cycle's WARM → HOT checks replace
    promoted = neo["transitions"][-1]
    assert (promoted.get("fromStage"), promoted["toStage"]) in {(None, "WARM"), ("COLD", "WARM")}
    assert "governor: " in promoted["reason"] and neo["leaderboardScore"] > 1.0
    assert dash["stage"] == "COLD" and dash["evidence"]["decision"]["reason"].startswith("fast path")
    assert neo["fingerprint"] and neo["lastPipelineRun"]
    changes = [
        e for e in up.audit() if e["event"] == "StrategyStatusChanged" and e["strategy"] == "neo-momentum"
    ]
    assert changes[0]["new"] == "WARM" and changes[0]["who"] == "agent/pipeline"  # its credential's

    # the agent reports its cycles (a second one reuses the runs) and its queue length
    work = wait_for(lambda: (w := up.agent_view("pipeline")["work"])["cycles"] >= 2 and w, 30, 0.2)
    assert work["lastRun"]["dedup"]["hits"] >= 2 and work["queue"] == 0
    assert "queueLength" in up.agent_view("pipeline")
    evidence = Path(work["lastRun"]["evidence"])
    assert json.loads(evidence.read_text())["runId"] == work["lastRun"]["runId"]

    # every decision is in the pipeline's hash-chained event log, with the fingerprint
    log = EventLog(up.state / "eventlogs" / "pipeline-pipeline.sqlite")
    assert log.verify() > 0
    promo = [
        e.data() for e in log.entries() if e.kind == "PipelineDecision" and e.data()["action"] == "promote"
    ]
    assert promo[0]["strategy"] == "neo-momentum" and promo[0]["fingerprint"] == neo["fingerprint"]
    log.close()

    # fail closed: a STOP on the agent skips cycles, GO resumes them
    assert up.cli("gate", "agent/pipeline", "STOP", "--reason", "test").returncode == 0
    wait_for(lambda: up.agent_view("pipeline")["work"]["skipped"] >= 1, 20, 0.2)
    n = up.agent_view("pipeline")["work"]["cycles"]
    wait_for(lambda: up.agent_view("pipeline")["work"]["skipped"] >= 2, 20, 0.2)
    assert up.agent_view("pipeline")["work"]["cycles"] == n
    assert up.cli("gate", "agent/pipeline", "GO", "--reason", "test").returncode == 0
    wait_for(lambda: up.agent_view("pipeline")["work"]["cycles"] > n, 20, 0.2)

    # a bad status write is refused, naming the field
    person = cli_headers(up.state)
    r = httpx.post(f"{up.url()}/api/strategies/neo-momentum/status",
                   json={"patch": {"stage": "LUKEWARM"}}, headers=person, timeout=5)  # fmt: skip
    assert r.status_code == 400 and "patch.stage" in r.json()["error"]
    assert (
        httpx.post(
            f"{up.url()}/api/strategies/nope/status", json={"patch": {}}, headers=person, timeout=5
        ).status_code
        == 404
    )

    # the stage survives a supervisor restart (persisted with the local state)
    up.stop()
    again = _start(up.state, tmp_path / "up2.log")
    try:
        assert again.status()["strategies"]["neo-momentum"]["stage"] == "WARM"
    finally:
        again.stop()
