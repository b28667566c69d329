"""`quantops up` on one machine: real processes, real HTTP, the same orchestration rules."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import getpass
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from supervisor_support import sim_headers

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
        return json.loads(self.cli("status", "--json").stdout)

    def agent(self, name: str) -> dict[str, Any]:
        return next(a for a in self.status()["agents"] if a["name"] == name)

    def agent_view(self, name: str) -> dict[str, Any]:
        port = self.agent(name)["port"]
        return dict(httpx.get(f"http://127.0.0.1:{port}/status", timeout=2).json())

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.state / "audit.jsonl").read_text().splitlines()]


def wait_for(pred: Any, timeout: float = 30.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (httpx.HTTPError, StopIteration, KeyError, json.JSONDecodeError):
            last = None
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out; last={last!r}")


def _start(tmp_path: Path) -> Iterator[Up]:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [
            *QUANTOPS,
            "--state-dir",
            str(state),
            "up",
            "-f",
            str(HERE / "platform-fast.yaml"),
        ],  # no --duration: the platform lives exactly as long as the tests that share it
        stdout=(tmp_path / "up.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    u = Up(state, proc)
    wait_for(lambda: (state / "supervisor.json").exists(), 20)
    wait_for(lambda: all(a["ready"] for a in u.status()["agents"]), 40)
    yield u
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One platform shared by the tests below, which run in file order (the runbook test sets STOP last)."""
    yield from _start(tmp_path_factory.mktemp("up"))


@pytest.fixture
def own_up(tmp_path: Path) -> Iterator[Up]:
    """A platform of its own, for a test that kills the supervisor."""
    yield from _start(tmp_path)


def test_agents_start_in_dependency_order(up: Up) -> None:
    started = [e["agent"] for e in up.audit() if e["event"] == "AgentStarted"]
    assert started == ["venue", "trader", "boss"]
    assert up.status()["waves"] == [["venue"], ["trader"], ["boss"]]


def test_venue_sim_agent_serves_the_exchange_to_ccxt(up: Up) -> None:
    from quantops_trading.adapters.ccxt import make_binance

    url = up.agent_view("venue")["work"]["venueUrl"]
    assert url.startswith("http://127.0.0.1:")

    async def trade() -> tuple[list[str], str, float]:
        secret = up.state / "secrets" / "sim-account"  # made by quantops up for the demo account
        assert (secret.stat().st_mode & 0o777, (secret / "secret").stat().st_mode & 0o777) == (0o700, 0o600)
        ex = make_binance(url, (secret / "apiKey").read_text(), (secret / "secret").read_text())
        try:
            markets = await ex.load_markets()
            order = await ex.create_order(
                "BTC/USDT", "limit", "buy", 0.001, 10000, {"newClientOrderId": "up-1"}
            )
            balance = await ex.fetch_balance()
            return list(markets), order["status"], float(balance["USDT"]["used"])
        finally:
            await ex.close()

    markets, status, used = asyncio.run(trade())
    assert markets == ["BTC/USDT"]
    assert status == "open"  # far below the real replayed book: it rests
    assert used == pytest.approx(10.0 * 1.001)  # notional plus the reserved 0.1 % fee


def test_status_table_shows_each_strategy_s_desired_and_applied_stage(up: Up) -> None:
    res = up.cli("status")
    assert res.returncode == 0, res.stderr
    head, _, table = res.stdout.partition("\nSTRATEGY")
    assert "AGENT" in head and "DESIRED" in table and "STAGE" in table
    row = next(line.split() for line in table.splitlines() if line.startswith("demo "))
    assert row[:3] == ["demo", "HOT", "HOT"]  # spec.desiredStage, status.stage


def test_gate_flip_reaches_agent_within_a_second(up: Up) -> None:
    assert up.agent_view("trader")["gate"] == "GO"
    t0 = time.monotonic()
    res = up.cli("gate", "strategy/demo", "PAUSE", "--reason", "test flip")
    assert res.returncode == 0, res.stderr
    # a strategy's own gate restricts that strategy in the trader, not the trader's other work
    wait_for(lambda: up.agent_view("trader")["strategyGates"].get("demo") == "PAUSE", timeout=1.0, step=0.01)
    latency = time.monotonic() - t0
    assert up.agent_view("trader")["gate"] == "GO"
    assert up.agent_view("boss")["gate"] == "GO"  # boss does not run that strategy
    audit = [e for e in up.audit() if e["event"] == "GateChanged"]
    assert audit[-1]["scope"] == "Strategy/demo" and audit[-1]["old"] == "GO" and audit[-1]["new"] == "PAUSE"
    assert audit[-1]["reason"] == "test flip"
    print(f"gate flip latency (CLI round trip included): {latency * 1000:.1f} ms")
    bad = up.cli("gate", "global", "MAYBE")
    assert bad.returncode != 0 and "invalid choice" in bad.stderr
    missing = up.cli("gate", "strategy/nope", "STOP")
    assert missing.returncode == 2 and "Strategy/nope does not exist" in missing.stderr
    up.cli("gate", "strategy/demo", "GO", "--reason", "test done")


def test_crashed_agent_restarts_with_backoff(up: Up) -> None:
    pid = up.agent("trader")["pid"]
    os.kill(pid, signal.SIGKILL)
    restarted = wait_for(
        lambda: (a := up.agent("trader"))["restarts"] == 1 and a["pid"] not in (None, pid) and a
    )
    assert restarted["pid"] != pid
    sched = [e for e in up.audit() if e["event"] == "AgentRestartScheduled" and e["agent"] == "trader"]
    assert sched and "exited with -9" in sched[0]["reason"]
    assert 0 < sched[0]["delay"] <= 0.5  # first delay: initialSeconds with jitter (never above the cap)
    wait_for(lambda: up.agent("trader")["ready"], 20)


def test_agent_fails_closed_to_pause_when_supervisor_disappears(own_up: Up) -> None:
    up = own_up
    port = up.agent("trader")["port"]
    pids = [a["pid"] for a in up.status()["agents"]]
    up.proc.send_signal(signal.SIGKILL)  # the control plane vanishes; agents keep running
    up.proc.wait()
    try:
        view = wait_for(
            lambda: (
                (v := httpx.get(f"http://127.0.0.1:{port}/status", timeout=1).json())["gate"] == "PAUSE" and v
            ),
            timeout=10,
        )
        assert view["gateSource"] == "FailClosed/control-plane-unreachable"
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 503
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_sigterm_is_graceful(up: Up) -> None:
    a = up.agent("boss")
    log = up.state / "logs" / "boss.log"
    os.kill(a["pid"], signal.SIGTERM)
    line = wait_for(
        lambda: next((json.loads(x) for x in log.read_text().splitlines() if '"agent_stopped"' in x), None),
        15,
    )
    assert line["steps"] == ["stopped-new-work", "cancelled-orders:0", "flushed-event-log", "released-lease"]
    released = [e for e in up.audit() if e["event"] == "LeaseReleased" and e["agent"] == "boss"]
    assert released


def test_the_control_api_refuses_forgeries_and_its_token_never_leaks(up: Up) -> None:
    """The real supervisor process: its run token is 0600, on no command line, in no log, event,
    config or audit record; what a web page or a token-less process sends changes nothing."""
    from quantops_local import auth

    token_file = up.state / "control.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text()
    url = json.loads((up.state / "supervisor.json").read_text())["url"]
    gates = up.status()["gates"]
    stop = json.dumps({"scope": "global", "gate": "STOP", "reason": "forged", "who": "cli"})
    page = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
    assert httpx.post(f"{url}/api/gate", content=stop, headers=page, timeout=3).status_code == 415
    assert httpx.post(f"{url}/api/gate", content=stop, timeout=3,
                      headers={"Content-Type": "application/json"}).status_code == 401  # fmt: skip
    boss = {"Authorization": f"Bearer {auth.agent_token(token, 'boss')}"}
    beat = {"agent": "trader", "healthy": False}
    assert httpx.post(f"{url}/api/heartbeat", json=beat, headers=boss, timeout=3).status_code == 403
    assert up.status()["gates"] == gates and up.agent("trader")["ready"]
    assert not [e for e in up.audit() if e["event"] == "GateChanged" and e.get("reason") == "forged"]
    tokens = [token, auth.sim_token(token, "venue")] + [
        auth.agent_token(token, a["name"]) for a in up.status()["agents"]
    ]
    # the boss the previous test stopped is back (its pid in the status is a live process)
    agents = wait_for(lambda: (st := up.status()["agents"]) and all(a["ready"] for a in st) and st, 30)
    for a in agents:  # never on a command line
        cmdline = Path(f"/proc/{a['pid']}/cmdline").read_bytes()
        assert not [t for t in tokens if t.encode() in cmdline], a["name"]
    files = [f for f in up.state.rglob("*") if f.is_file() and f != token_file]
    files.append(up.state.parent / "up.log")  # the supervisor's own output (the audit stream)
    assert len(files) > 5
    for f in files:
        data = f.read_bytes()
        assert not [t for t in tokens if t.encode() in data], f


def test_runbook_explains_degraded_agent(up: Up) -> None:
    up.cli("gate", "global", "STOP", "--reason", "runbook test")
    heading = "## Gate STOP from RiskPolicy/global: "
    text = wait_for(lambda: (t := up.cli("runbook").stdout) and heading in t and "trader" in t and t, 10)
    assert text.count(heading) == 1  # one section per cause, naming every agent it holds
    section = text.split(heading)[1].split("\n## ")[0]
    assert "trader" in section.splitlines()[0] and "quantops gate global GO" in section
    held = [x for x in up.cli("status").stdout.splitlines() if x.startswith("HELD: ")]
    assert (
        len(held) == 1 and held[0].startswith("HELD: STOP from RiskPolicy/global: ") and "trader" in held[0]
    )


def test_invalid_manifests_fail_fast_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: quantops.dev/v1alpha1\nkind: Agent\nmetadata: {name: a}\n"
        "spec: {role: trader, autoscaling: {minReplicas: 3, maxReplicas: 1}}\n"
    )
    res = subprocess.run(
        [*QUANTOPS, "--state-dir", str(tmp_path), "up", "-f", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 2
    assert (
        "Agent/a: spec.autoscaling: autoscaling.minReplicas must be <= autoscaling.maxReplicas" in res.stderr
    )
    cyc = tmp_path / "cycle.yaml"
    cyc.write_text(
        "apiVersion: quantops.dev/v1alpha1\nkind: Agent\nmetadata: {name: a}\nspec: {role: trader, "
        "dependsOn: [b]}\n---\napiVersion: quantops.dev/v1alpha1\nkind: Agent\nmetadata: {name: b}\n"
        "spec: {role: trader, dependsOn: [a]}\n"
    )
    res = subprocess.run(
        [*QUANTOPS, "--state-dir", str(tmp_path), "up", "-f", str(cyc)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 2 and "dependsOn cycle: a -> b -> a" in res.stderr
    ghost = tmp_path / "ghost.yaml"
    ghost.write_text(
        "apiVersion: quantops.dev/v1alpha1\nkind: Agent\nmetadata: {name: a}\n"
        "spec: {role: trader, strategies: [ghost]}\n"
    )
    res = subprocess.run(
        [*QUANTOPS, "--state-dir", str(tmp_path), "up", "-f", str(ghost)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 2 and "Agent/a: spec.strategies: Strategy 'ghost' is not defined" in res.stderr


# -- the demo: --speed, --duration, canary, gate flip, postmortem ---------------------------------------


def _demo(tmp_path: Path, *extra: str) -> Up:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [*QUANTOPS, "--state-dir", str(state), "up", "-f", str(HERE / "platform-demo.yaml"), *extra],
        stdout=(tmp_path / "up.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Up(state, proc)


def _events(path: Path) -> list[dict[str, Any]]:
    from quantops_trading.storage.eventlog import EventLog

    with EventLog(path) as log:
        return [e.data() for e in log.entries()]


def _png_with_content(path: Path) -> None:
    import io

    import numpy as np
    from PIL import Image

    data = path.read_bytes()
    Image.open(io.BytesIO(data)).verify()  # a real PNG: signature, chunks, CRCs
    img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert img.shape[0] > 100 and img.shape[1] > 300
    assert (img != 255).any(axis=2).sum() > 3000, f"{path.name} is (almost) blank"


def test_demo_runs_at_speed_stops_by_itself_and_leaves_a_verified_record(tmp_path: Path) -> None:
    up = _demo(tmp_path, "--speed", "300", "--duration", "50", "--json")
    try:
        # the supervisor records itself before it starts the agents: wait for the venue's config
        wait_for(lambda: (up.state / "venue.config.json").exists(), 20)
        started = time.time()
        venue_cfg = json.loads((up.state / "venue.config.json").read_text())
        assert venue_cfg["config"]["venue"]["speed"] == 300  # --speed overrides the manifest's 1
        # trades happen, and the canary has proved the order path
        wait_for(lambda: up.agent_view("trader")["work"]["orders"]["filled"] > 0, 40)
        wait_for(lambda: [e for e in up.audit() if e["event"] == "CanaryPassed"], 30)
        venue_url = up.agent_view("venue")["work"]["venueUrl"]
        sim = sim_headers(up.state, "venue")
        replayed_ms = httpx.get(f"{venue_url}/_sim/state", headers=sim, timeout=3).json()["elapsedMs"]
        assert replayed_ms > 30 * 1000 * (time.time() - started)  # far faster than wall time
        # a gate flip: STOP lets only unwind-ladder orders through, which the trader never sends
        res = up.cli("gate", "strategy/fast-momo", "STOP", "--reason", "demo flip")
        assert res.returncode == 0, res.stderr
    finally:
        rc = up.proc.wait(timeout=120)  # --duration: it stops by itself
    assert rc == 0
    audit = up.audit()
    flip = next(e for e in audit if e["event"] == "GateChanged" and e["scope"] == "Strategy/fast-momo")
    flip_ns = int(dt.datetime.fromisoformat(flip["at"]).timestamp() * 1e9)
    events = _events(up.state / "eventlogs" / "fast-momo.sqlite")
    submitted = [e["ts_ns"] for e in events if e.get("kind") == "order_submitted"]
    assert [t for t in submitted if t < flip_ns], "orders before the flip"
    late = [t for t in submitted if t > flip_ns + 1_000_000_000]
    assert late == [], f"{len(late)} orders sent more than 1 s after the STOP flip"
    stopped_by_gate = [
        e for e in events if e.get("kind") == "order_denied" and e["ts_ns"] > flip_ns and "gate" in e["rule"]
    ]
    assert stopped_by_gate, "the trader kept deciding after the flip and the gate denied it"
    assert any(e.get("kind") == "order_filled" for e in events)
    assert not [e for e in audit if e["event"] == "CanaryFailed"]
    verified = next(e for e in audit if e["event"] == "EventLogsVerified")
    assert verified["broken"] == {}
    assert {"eventlogs/fast-momo.sqlite", "canary/canary.sqlite"} <= set(verified["verified"])
    # nothing lost: the trader's shutdown cancelled its working orders and flushed its log
    stopped = [
        json.loads(x)
        for x in (up.state / "logs" / "trader.log").read_text().splitlines()
        if "agent_stopped" in x
    ]
    assert stopped and stopped[-1]["steps"][-2:] == ["flushed-event-log", "released-lease"]
    written = next(e for e in audit if e["event"] == "PostmortemWritten")
    md = Path(written["md"]).read_text()
    assert f"Strategy/fast-momo: GO → STOP (demo flip, by cli:{getpass.getuser()})" in md
    assert "fast-momo: " in md.split("## PnL attribution")[1]
    assert "canary" not in md.split("## PnL attribution")[1].split("##")[0]
    assert "passed, 0 failed" in md
    pngs = sorted(Path(written["md"]).parent.glob("*.png"))
    assert len(pngs) == 5
    for png in pngs:
        _png_with_content(png)
    log = (tmp_path / "up.log").read_text()
    assert "Dashboard: http://127.0.0.1:" in log and "postmortem: " in log
    # --json: the supervisor's records, as JSON lines (the machine format)
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    assert [r["event"] for r in lines][:2] == ["SupervisorStarted", "AgentStarted"]
    assert any(r["event"] == "GateChanged" and r["scope"] == "Strategy/fast-momo" for r in lines)


def test_the_readme_demo_on_the_sample_manifests_trades_live_and_on_paper(tmp_path: Path) -> None:
    """The README's faster demo, unchanged: btc-momentum (seeded HOT) fills on the venue through the
    risk gateway (fee guard at the venue's fees), eth-meanrev (WARM) fills on paper only."""
    state = tmp_path / "state"
    sample = HERE.parents[1] / "crds" / "samples" / "platform.yaml"
    cmd = [*QUANTOPS, "--state-dir", str(state), "up", "-f", str(sample)]
    cmd += ["--speed", "600", "--duration", "400", "--fresh"]  # the README's flags; Ctrl-C once both seen
    proc = subprocess.Popen(cmd, stdout=(tmp_path / "up.log").open("wb"), stderr=subprocess.STDOUT)
    up = Up(state, proc)
    try:
        wait_for(lambda: (state / "supervisor.json").exists(), 30)

        def both() -> dict[str, int] | None:  # btc-momentum warms up for 48 polls first
            orders: dict[str, int] = up.agent_view("trader")["work"]["orders"]
            return orders if orders["filled"] > 0 and orders["paperFilled"] > 0 else None

        wait_for(both, 240, step=1.0)
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=120)
    assert rc == 0
    verified = next(e for e in up.audit() if e["event"] == "EventLogsVerified")
    assert verified["broken"] == {}
    # the terminal reads without jq: no JSON, the start-up in waves, each agent's start on a line
    log = (tmp_path / "up.log").read_text().splitlines()
    assert not [x for x in log if x.lstrip().startswith("{")], log[:20]
    assert any(
        re.fullmatch(r"\d\d:\d\d:\d\d supervisor on http://127\.0\.0\.1:\d+; agents start in waves: .+", x)
        for x in log
    )
    for agent in ("venue-sim", "trader", "canary"):
        assert any(re.match(rf"\d\d:\d\d:\d\d {agent} started \(pid \d+\)", x) for x in log), (
            agent,
            log[:30],
        )
    assert any(x.endswith("supervisor stopped") for x in log), log[-20:]
    live = _events(state / "eventlogs" / "btc-momentum.sqlite")
    assert any(e.get("kind") == "order_filled" for e in live)
    assert all(e["lineage"]["stage"] == "HOT" for e in live if e.get("kind") == "order_submitted")
    paper = _events(state / "eventlogs" / "eth-meanrev.sqlite")
    assert any(e.get("kind") == "paper_fill" for e in paper)
    assert not [e for e in paper if e.get("kind") in ("order_submitted", "order_filled")]


def test_demo_ctrl_c_is_graceful_and_loses_nothing(tmp_path: Path) -> None:
    up = _demo(tmp_path, "--speed", "300", "--duration", "600")
    try:
        wait_for(lambda: (up.state / "supervisor.json").exists(), 20)
        wait_for(lambda: up.agent_view("trader")["work"]["orders"]["submitted"] > 0, 40)
    finally:
        up.proc.send_signal(signal.SIGINT)  # Ctrl-C
        rc = up.proc.wait(timeout=90)
    assert rc == 0
    audit = up.audit()
    order = [e["agent"] for e in audit if e["event"] == "AgentStopping"]
    assert order.index("boss") < order.index("trader") < order.index("venue")  # reverse dependency order
    assert not [e for e in audit if e["event"] == "AgentKilled"]  # every agent exited within its grace
    verified = next(e for e in audit if e["event"] == "EventLogsVerified")
    assert verified["broken"] == {} and verified["verified"]["eventlogs/fast-momo.sqlite"] > 0
    events = _events(up.state / "eventlogs" / "fast-momo.sqlite")
    assert any(e.get("kind") == "order_submitted" for e in events)
    assert any(e["event"] == "PostmortemWritten" for e in audit)


def test_postmortem_command_rewrites_the_report_from_a_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "eventlogs").mkdir(parents=True)
    day = dt.date(2024, 8, 8)
    at = dt.datetime(2024, 8, 8, 10, tzinfo=dt.UTC).isoformat()
    gate = {"at": at, "event": "GateChanged", "scope": "RiskPolicy/global", "old": "GO", "new": "STOP"}
    (state / "audit.jsonl").write_text(json.dumps({**gate, "reason": "drill", "who": "cli"}) + "\n")
    res = subprocess.run(
        [*QUANTOPS, "--state-dir", str(state), "postmortem", "--day", day.isoformat()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    paths = {k: Path(v) for k, v in json.loads(res.stdout).items()}
    assert paths["md"] == state / "postmortems" / "postmortem-2024-08-08.md"
    assert "RiskPolicy/global: GO → STOP (drill, by cli)" in paths["md"].read_text()
    _png_with_content(paths["gates"])
    bad = subprocess.run(
        [*QUANTOPS, "--state-dir", str(state), "postmortem", "--day", "08/08/2024"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "--day: '08/08/2024' is not a date" in bad.stderr
    missing = subprocess.run(
        [*QUANTOPS, "--state-dir", str(tmp_path / "nowhere"), "postmortem"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "audit.jsonl not found" in missing.stderr


def test_up_rejects_bad_speed_and_duration(tmp_path: Path) -> None:
    up = [*QUANTOPS, "--state-dir", str(tmp_path), "up", "-f", str(HERE / "platform-demo.yaml")]
    for flag, value in (("--speed", "0"), ("--duration", "-5")):
        res = subprocess.run(
            [*up, flag, value],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 2 and f"{flag}: must be > 0" in res.stderr


def test_fresh_moves_the_previous_state_aside_and_refuses_a_running_one(tmp_path: Path) -> None:
    import datetime as _dt

    from quantops_local.cli import StateInUse, archive_state

    state = tmp_path / "state"
    (state / "eventlogs").mkdir(parents=True)
    (state / "eventlogs" / "momo.sqlite").write_bytes(b"old run")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (state / "supervisor.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": dead.pid}))
    kept = archive_state(state, _dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=_dt.UTC))
    assert kept == tmp_path / "state.20300102T030405Z"
    assert (kept / "eventlogs" / "momo.sqlite").read_bytes() == b"old run"  # nothing deleted
    assert not state.exists()
    assert archive_state(state) is None  # nothing to move
    state.mkdir()
    (state / "supervisor.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": os.getpid()}))
    with pytest.raises(StateInUse, match=f"pid {os.getpid()}"):
        archive_state(state)
    assert (state / "supervisor.json").exists()  # left where it was
    # the CLI: invalid manifests fail before anything is moved
    res = subprocess.run(
        [*QUANTOPS, "--state-dir", str(kept), "up", "--fresh", "-f", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and kept.exists()
