"""The trader agent trades: `quantops up` → venue-sim + trader, real processes, ccxt over HTTP.

One platform (tests/local/platform-trader.yaml), in order: the trader's orders reach the venue and
fill; SIGTERM of the trader leaves no open order of its own on the venue; after its restart a
global STOP stops new orders from reaching the venue; SIGTERM of the supervisor exits cleanly and
the strategy's event log hash chain verifies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from supervisor_support import sim_headers

from quantops_trading.execution.client_ids import is_ours
from quantops_trading.storage.eventlog import EventLog

HERE = Path(__file__).parent
QUANTOPS = [sys.executable, "-m", "quantops_local.cli"]


@dataclass
class Up:
    state: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*QUANTOPS, "--state-dir", str(self.state), *args], capture_output=True, text=True, timeout=30
        )

    def status(self) -> dict[str, Any]:
        return dict(json.loads(self.cli("status", "--json").stdout))

    def agent(self, name: str) -> dict[str, Any]:
        return next(a for a in self.status()["agents"] if a["name"] == name)

    def agent_view(self, name: str) -> dict[str, Any]:
        port = self.agent(name)["port"]
        return dict(httpx.get(f"http://127.0.0.1:{port}/status", timeout=2).json())


def wait_for(pred: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (httpx.HTTPError, StopIteration, KeyError, json.JSONDecodeError):
            last = None
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out; last={last!r}")


def _ours(venue_url: str, state: Path) -> list[dict[str, Any]]:
    orders = httpx.get(f"{venue_url}/_sim/state", headers=sim_headers(state), timeout=2).json()["orders"]
    return [o for o in orders if is_ours(o["clientOrderId"])]


def _stopped_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in log.read_text().splitlines() if '"agent_stopped"' in x]


def test_trader_trades_obeys_stop_and_shuts_down_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [
            *QUANTOPS,
            "--state-dir",
            str(state),
            "up",
            "-f",
            str(HERE / "platform-trader.yaml"),
            "--duration",
            "120",
        ],
        stdout=(tmp_path / "up.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    up = Up(state)
    trader_log = state / "logs" / "trader.log"
    try:
        wait_for(lambda: (state / "supervisor.json").exists(), 20)
        wait_for(lambda: all(a["ready"] for a in up.status()["agents"]), 30)
        work = wait_for(lambda: (w := up.agent_view("trader")["work"])["state"] == "trading" and w, 20)
        venue_url = work["venueUrl"]
        assert venue_url == up.agent_view("venue")["work"]["venueUrl"]

        # 1. orders from the trader reach the venue and fill; with a working order at some point
        wait_for(lambda: any(float(o["executedQty"]) > 0 for o in _ours(venue_url, state)), 40, 0.2)
        wait_for(lambda: up.agent_view("trader")["work"]["orders"]["filled"] >= 1, 10, 0.2)
        wait_for(lambda: up.agent_view("trader")["openOrders"] >= 1, 20, 0.05)

        # 2. SIGTERM of the trader: working orders cancelled on the venue before it exits
        pid = up.agent("trader")["pid"]
        os.kill(pid, signal.SIGTERM)
        line = wait_for(lambda: next(iter(_stopped_lines(trader_log)), None), 15, 0.02)
        open_after = [o for o in _ours(venue_url, state) if o["status"] in ("NEW", "PARTIALLY_FILLED")]
        steps = line["steps"]
        assert steps[0] == "stopped-new-work" and steps[1].startswith("cancelled-orders:")
        assert steps[2:] == ["flushed-event-log", "released-lease"]
        assert open_after == [], open_after
        print("trader SIGTERM:", steps[1])

        # 3. restarted, it trades again; then a global STOP: no new order reaches the venue
        wait_for(lambda: (a := up.agent("trader"))["pid"] not in (None, pid) and a["ready"], 20)
        n0 = len(_ours(venue_url, state))
        wait_for(lambda: len(_ours(venue_url, state)) > n0, 20, 0.2)
        res = up.cli("gate", "global", "STOP", "--reason", "trader test")
        assert res.returncode == 0, res.stderr
        wait_for(lambda: up.agent_view("trader")["gate"] == "STOP", 5, 0.02)
        time.sleep(0.5)  # an order sent just before the flip was applied may still be in flight
        before = {o["clientOrderId"] for o in _ours(venue_url, state)}
        time.sleep(4)
        after = _ours(venue_url, state)
        assert {o["clientOrderId"] for o in after} == before, "new orders reached the venue under STOP"
        assert not [o for o in after if o["status"] in ("NEW", "PARTIALLY_FILLED")]  # gate cancelled them
        assert up.agent_view("trader")["work"]["orders"]["denied"] >= 1  # signals kept coming; risk said no

        # 4. SIGTERM of the supervisor: everything stops cleanly
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stopped = _stopped_lines(trader_log)
    assert len(stopped) == 2 and stopped[1]["steps"][2:] == ["flushed-event-log", "released-lease"]
    log = EventLog(state / "eventlogs" / "fast-momo.sqlite")  # verifies the whole chain on open
    try:
        assert log.verify() == len(log)
        kinds = [e.kind for e in log.entries()]
        assert kinds.count("order_submitted") >= 2 and "order_filled" in kinds and "order_cancelled" in kinds
        fills = {e.data()["fill"]["client_order_id"] for e in log.entries() if e.kind == "order_filled"}
        assert fills <= {o["clientOrderId"] for o in after}  # every logged fill is one of ours on the venue
        denied_stop = [e.data() for e in log.entries() if e.kind == "order_denied"]
        assert any("gate STOP" in d["reason"] for d in denied_stop)
    finally:
        log.close()
    audit = [json.loads(x) for x in (state / "audit.jsonl").read_text().splitlines()]
    assert any(r["event"] == "PnlSnapshot" and r["strategy"] == "fast-momo" for r in audit)
    assert any(r["event"] == "RiskUtilisation" for r in audit)
