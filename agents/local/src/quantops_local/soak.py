"""`quantops soak`: the sample platform under `quantops up --speed N` for a simulated day, with a
seeded fault schedule, then the invariant checker over what it wrote down.

Why it exists: every piece is tested alone; only a long run with faults shows a restart that
forgets state, a gate watch that dies silently or a fill booked twice. The runner does what a
person with a shell would: starts ``quantops up --fresh`` on the manifests, waits until every
agent is Ready, then at each scheduled (simulated) instant installs a venue fault through the
simulator's ``/_sim/faults`` (its control token derived from the run token, as the supervisor
derives it), ``kill -9``s an agent (its pid from the supervisor's ``/api/status``) or flips a gate
through the authenticated supervisor API — and takes each back when its time is up. Every fault is
appended to ``<state>/soak/faults.jsonl`` (kind, target, simulated start/end, seed, wall times).
At the end the venue's replay is frozen (speed 0: the book stops moving, so resting orders stop
filling), the trader gets a few seconds to book what it has not, the simulator's account state is
saved (``soak/venue-state.json``), the platform is stopped (SIGTERM: the wrap-up verifies the logs
and writes the postmortem), and :mod:`quantops_local.invariants` writes ``soak/report.json``.

Simulated time is the venue's replay time: wall seconds × ``--speed``. The agents' own loops
(trader polls, canary interval, restart backoff) run on wall time, so detection and recovery
bounds are in wall seconds; the report gives both.

``--check-only STATE`` re-runs the checker on a finished run. Exit status: 0 when every invariant
holds, 1 when one fails (named, with its records), 2 on a usage or start-up error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from quantops_local import auth, faultplan, invariants, soakrecords, soakreport
from quantops_local.faultplan import PlannedFault

__all__ = ["add_parser", "main", "run_check", "run_soak"]

DEFAULT_PLATFORM = Path("crds/samples/platform.yaml")
SETTLE_S = 4.0  # after freezing the replay: the trader's last syncs book the last fills
REPLAY_HOUR_MS = 3_600_000


class SoakError(RuntimeError):
    """The platform could not be started or driven (not an invariant failure)."""


class Platform:
    """A running ``quantops up`` and the two control APIs the soak drives (supervisor, simulator)."""

    def __init__(self, state: Path, files: list[Path], speed: float, wall_s: float, log: Path) -> None:
        self.state = state
        cmd = [
            sys.executable,
            "-m",
            "quantops_local.cli",
            "--state-dir",
            str(state),
            "up",
            "--fresh",
            "--speed",
            f"{speed:g}",
            "--no-progress",
            "--duration",
            f"{wall_s + 600:.0f}",
        ]
        for f in files:
            cmd += ["-f", str(f)]
        self.log = log.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = ""
        self.token = ""
        self.venue_url = ""
        self.venue_agent = ""
        self.sim_token = ""

    def _sup(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kw)

    def _sim(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.sim_token}"}
        r = httpx.request(method, f"{self.venue_url}{path}", headers=headers, timeout=10, **kw)
        r.raise_for_status()
        return r

    def status(self) -> dict[str, Any]:
        r = self._sup("GET", "/api/status")
        r.raise_for_status()
        out: dict[str, Any] = r.json()
        return out

    def wait_ready(self, timeout: float) -> None:
        """supervisor.json of *this* process, then every agent Ready, then the venue's URL."""
        deadline = time.monotonic() + timeout
        record = self.state / "supervisor.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SoakError(f"quantops up exited with {self.proc.returncode} (see {self.log.name})")
            with contextlib.suppress(OSError, ValueError, KeyError, httpx.HTTPError, auth.TokenFileError):
                if not self.url:
                    rec = json.loads(record.read_text())
                    if int(rec["pid"]) == self.proc.pid:
                        self.url, self.token = str(rec["url"]), auth.read_token_file(self.state)
                if self.url:
                    agents = self.status()["agents"]
                    if agents and all(a["ready"] for a in agents):
                        venue = next(a for a in agents if a["role"] == "venue-sim")
                        work = httpx.get(f"http://127.0.0.1:{venue['port']}/status", timeout=5).json()["work"]
                        self.venue_url, self.venue_agent = str(work["venueUrl"]), str(venue["name"])
                        self.sim_token = auth.sim_token(self.token, self.venue_agent)
                        return
            time.sleep(0.25)
        raise SoakError(f"the platform was not Ready within {timeout:g}s (see {self.log.name})")

    # -- faults ------------------------------------------------------------------------------------
    def start_fault(self, f: PlannedFault) -> dict[str, Any]:
        if f.is_venue:
            return {"ruleId": int(self._sim("POST", "/_sim/faults", json=f.rule).json()["id"])}
        if f.kind == "kill_agent":
            agent = next(a for a in self.status()["agents"] if a["name"] == f.target)
            pid = agent["pid"]
            if not pid:
                return {"skipped": f"{f.target} has no process right now (phase {agent['phase']})"}
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
            return {"pid": pid}
        before = self.status()["gates"]
        scope = "RiskPolicy/global" if f.target == "global" else f.target
        r = self._sup("POST", "/api/gate", json={"scope": f.target, "gate": f.gate, "reason": f"soak {f.id}"})
        r.raise_for_status()
        return {"previous": before.get(scope, "GO"), "scope": scope}

    def end_fault(self, f: PlannedFault, started: dict[str, Any]) -> None:
        if "ruleId" in started:
            self._sim("DELETE", f"/_sim/faults/{started['ruleId']}")
        elif f.kind == "human_gate":
            back = {"scope": f.target, "gate": started["previous"], "reason": f"soak {f.id}: back"}
            self._sup("POST", "/api/gate", json=back).raise_for_status()

    def align_replay(self, at_least_ms: int | None) -> tuple[int, int]:
        """The replay position (ms) before and after stepping it forward to ``at_least_ms`` (a
        comparison run starts its fault clock where the run it is compared with did)."""
        before = int(self._sim("POST", "/_sim/step", json={"ms": 0}).json()["elapsedMs"])
        if at_least_ms is None or before >= at_least_ms:
            return before, before
        return before, int(
            self._sim("POST", "/_sim/step", json={"ms": at_least_ms - before}).json()["elapsedMs"]
        )

    def freeze_and_snapshot(self, dest: Path) -> None:
        self._sim("DELETE", "/_sim/faults")
        self._sim("POST", "/_sim/speed", json={"speed": 0})
        time.sleep(SETTLE_S)
        state = self._sim("GET", "/_sim/state").json()
        dest.write_text(json.dumps({"takenAt": time.time(), "state": state}, indent=1))

    def stop(self, timeout: float = 180.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return int(self.proc.returncode or 0)


def _append(path: Path, rec: dict[str, Any]) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(rec) + "\n")


def run_soak(ns: argparse.Namespace) -> int:
    schedule = faultplan.load_schedule(ns.schedule)
    plan = [] if ns.no_faults else faultplan.expand(schedule, seed=ns.seed, hours=ns.hours)
    wall_s = ns.hours * 3600 / ns.speed
    state: Path = ns.state_dir
    state.parent.mkdir(parents=True, exist_ok=True)
    log = state.with_name(state.name + ".soak-up.log")
    print(
        f"soak: {ns.hours:g} simulated hours at ×{ns.speed:g} = {wall_s:.0f}s of wall time, "
        f"{len(plan)} faults (seed {ns.seed if ns.seed is not None else schedule.seed}); log {log}",
        file=sys.stderr,
    )
    platform = Platform(state, ns.file, ns.speed, wall_s, log)
    soak = soakrecords.soak_dir(state)
    try:
        platform.wait_ready(ns.startup_timeout)
        warmup = _warm_up(state, ns.warmup_timeout)
        soak.mkdir(exist_ok=True)
        (soak / "faults.jsonl").touch()
        target = ns.align_replay_ms
        if target is None and ns.compare and not ns.no_faults:
            # a run to be compared starts at a round replay hour with an hour to spare, so the run
            # without faults, whose warm-up may take a little longer, can step to the same point
            now_ms = platform.align_replay(None)[0]
            target = (now_ms // REPLAY_HOUR_MS + 2) * REPLAY_HOUR_MS
        replay_before, replay_t0 = platform.align_replay(target)
        t0 = time.time()
        run = {
            "t0": t0,
            "speed": ns.speed,
            "hours": ns.hours,
            "wallSeconds": wall_s,
            "warmupSeconds": warmup,
            "seed": ns.seed if ns.seed is not None else schedule.seed,
            "files": [str(f) for f in ns.file],
            "schedule": str(ns.schedule or faultplan.DEFAULT_SCHEDULE),
            "detectWithinSeconds": schedule.detect_within_seconds,
            "recoverWithinSeconds": schedule.recover_within_seconds,
            "venueAgent": platform.venue_agent,
            "faults": len(plan),
            "replayMsAtT0": replay_t0,
            "replaySteppedMs": replay_t0 - replay_before,
        }
        (soak / "run.json").write_text(json.dumps(run, indent=1))
        last_end = _drive(platform, plan, t0, ns.speed, wall_s, soak / "faults.jsonl")
        _cool_down(state, last_end, schedule.recover_within_seconds)
        run["endedAt"] = time.time()
        (soak / "run.json").write_text(json.dumps(run, indent=1))
        platform.freeze_and_snapshot(soak / "venue-state.json")
    except (SoakError, httpx.HTTPError) as e:
        print(f"quantops soak: {e}", file=sys.stderr)
        platform.stop()
        return 2
    except BaseException:  # Ctrl-C or a bug here: never leave the platform running
        platform.stop()
        raise
    rc = platform.stop()
    print(f"soak: quantops up exited with {rc}", file=sys.stderr)
    return run_check(state, postmortem=True)


def _warm_up(state: Path, timeout: float) -> float | None:
    """Wall seconds until the trader's first live order (its strategies warm up on wall-time polls,
    whatever the replay speed): the fault clock starts on a trading platform. None: none came."""
    begin = time.monotonic()
    while time.monotonic() - begin < timeout:
        if soakrecords.live_order_times(state):
            return round(time.monotonic() - begin, 1)
        time.sleep(1.0)
    print(f"soak: no live order within the {timeout:g}s warm-up; starting the faults anyway", file=sys.stderr)
    return None


def _cool_down(state: Path, last_end: float, recover_s: float) -> None:
    """After the last fault: run on (up to ``recover_s``) until a live order shows it recovered,
    so the last faults get the same recovery window as the others."""
    while time.time() < last_end + recover_s:
        if any(t >= last_end for t in soakrecords.live_order_times(state)):
            return
        time.sleep(1.0)


def _drive(
    platform: Platform, plan: list[PlannedFault], t0: float, speed: float, wall_s: float, out: Path
) -> float:
    """Start and end each fault at its simulated instant; one faults.jsonl line per fault.
    Returns the wall time the last one ended."""
    actions = sorted(
        [(f.start, 0, f) for f in plan] + [(f.end, 1, f) for f in plan if f.end > f.start],
        key=lambda a: (a[0], a[1], a[2].id),
    )
    started: dict[str, tuple[float, dict[str, Any]]] = {}
    last_end = t0
    for at, phase, f in actions:
        if at / speed >= wall_s:
            break
        time.sleep(max(0.0, t0 + at / speed - time.time()))
        if phase == 0:
            info = platform.start_fault(f)
            started[f.id] = (time.time(), info)
            print(f"soak: +{at / 3600:5.2f}h {f.kind} {f.target} {info}", file=sys.stderr)
            if f.end <= f.start:  # a kill: over when done (the supervisor decides the rest)
                begun = started.pop(f.id)
                last_end = _ended(last_end, f, _log_fault(out, f, begun, begun[0]))
        elif f.id in started:
            platform.end_fault(f, started[f.id][1])
            last_end = _ended(last_end, f, _log_fault(out, f, started.pop(f.id), time.time()))
    time.sleep(max(0.0, t0 + wall_s - time.time()))
    for fid, begun in list(started.items()):  # still on at the end of the run
        f = next(p for p in plan if p.id == fid)
        platform.end_fault(f, begun[1])
        last_end = _ended(last_end, f, _log_fault(out, f, begun, time.time()))
    return last_end


def _ended(last: float, f: PlannedFault, ended: float) -> float:
    """The last end of a fault the platform is expected to recover from by itself."""
    return max(last, ended) if f.recover else last


def _log_fault(out: Path, f: PlannedFault, begun: tuple[float, dict[str, Any]], ended: float) -> float:
    _append(
        out,
        {
            "id": f.id,
            "kind": f.kind,
            "target": f.target,
            "start": f.start,
            "end": f.end,
            "seed": f.seed,
            "gate": f.gate,
            "rule": f.rule,
            "recover": f.recover,
            "startedAt": begun[0],
            "endedAt": ended,
            "injected": begun[1],
        },
    )
    return ended


def _checked(state: Path) -> tuple[soakrecords.Evidence, invariants.Report, list[dict[str, Any]]]:
    ev = soakrecords.load(state)
    detect = float(ev.run.get("detectWithinSeconds", 30.0))
    recover = float(ev.run.get("recoverWithinSeconds", 60.0))
    report = invariants.check_all(ev, detect_s=detect, recover_s=recover)
    return ev, report, soakreport.by_kind(ev, report.faults, recover)


def run_check(
    state: Path, *, quiet: bool = False, postmortem: bool = False, clean: Path | None = None
) -> int:
    """The invariant checker over ``state``: report.json + a readable summary; 1 when one fails.
    ``clean``: the state dir of the same run without faults, compared in the report; ``postmortem``:
    the report is appended to the run's postmortem too (once, at the end of a run)."""
    ev, report, kinds = _checked(state)
    out = soakrecords.soak_dir(state)
    out.mkdir(parents=True, exist_ok=True)
    body = report.to_json() | {"run": ev.run, "byKind": kinds}
    cmp = None
    if clean is not None:
        clean_ev, clean_report, _ = _checked(clean)
        cmp = soakreport.comparison((ev, report), (clean_ev, clean_report))
        body["comparison"] = cmp | {"stateDir": str(clean)}
    (out / "report.json").write_text(json.dumps(body, indent=1, default=str))
    text = summary(report, float(ev.run.get("speed") or 0), kinds, cmp)
    (out / "report.md").write_text(text)
    if postmortem:
        soakreport.append_to_postmortem(state, text)
    if not quiet:
        print(text)
    return 0 if report.ok else 1


def summary(
    report: invariants.Report,
    speed: float,
    kinds: list[dict[str, Any]] | None = None,
    cmp: dict[str, Any] | None = None,
) -> str:
    lines = ["# Soak report", "", "| invariant | result | |", "|---|---|---|"]
    for c in report.checks:
        lines.append(f"| {c.name} | {'ok' if c.ok else '**FAILED**'} | {c.summary} |")
    for c in report.checks:
        if not c.ok:
            lines += ["", f"## {c.name}: FAILED", ""]
            lines += [f"- {json.dumps(e, default=str)}" for e in c.evidence[:20]]
            if len(c.evidence) > 20:
                lines.append(f"- … {len(c.evidence) - 20} more in report.json")
    lines += [
        "",
        "## Faults",
        "",
        "Wall seconds (× speed for simulated): detect = start → first record of it; unblocked = end → "
        "trader running, gates GO, books accepted; recover = end → first live order.",
        "",
        "| fault | sim start h | detected | detect s | by | unblocked s | recovered | recover s | why not |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in report.faults:
        rec = "n/a (by design)" if f.recovered is None else ("yes" if f.recovered else "NO")
        lines.append(
            f"| {f.id} {f.target} | {f.start / 3600:.2f} | {'yes' if f.detected else 'NO'} | {f.detect_s} "
            f"| {f.detected_by or ''} | {f.unblocked_s} | {rec} | {f.recover_s} | {f.why} |"
        )
    if kinds:
        lines += [
            "",
            "## By fault kind",
            "",
            "Wall seconds; PnL in the quote currency (see docs/soak.md).",
            "",
        ]
        lines += soakreport.kind_table(kinds)
    if cmp is not None:
        lines += ["", "## Against the same run without faults", "", *soakreport.comparison_table(cmp)]
    lines += ["", "## Figures", "", *(f"- {k}: {v}" for k, v in report.figures.items())]
    if speed:
        lines.append(f"- speed: ×{speed:g} (1 wall second = {speed:g} simulated seconds)")
    lines += [
        "",
        "RESULT: "
        + (
            "all invariants hold"
            if report.ok
            else "FAILED: " + ", ".join(c.name for c in report.checks if not c.ok)
        ),
    ]
    return "\n".join(lines) + "\n"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``soak`` on the ``quantops`` parser's subcommands."""
    p: argparse.ArgumentParser = sub.add_parser(
        "soak", help="the platform under a seeded fault schedule for a simulated day, then the invariants"
    )
    _options(p)
    return p


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-f",
        "--file",
        type=Path,
        action="append",
        default=None,
        help=f"manifests (default {DEFAULT_PLATFORM})",
    )
    p.add_argument("--hours", type=float, default=None, help="simulated hours (default 24; --short: 2)")
    p.add_argument(
        "--speed", type=float, default=None, help="replay factor (default 600: 24 h in 2.4 min; --short: 60)"
    )
    p.add_argument(
        "--short",
        action="store_true",
        help="the CI form: every fault kind in 2 simulated hours at x60 (soak-short.yaml), about 5 minutes",
    )
    p.add_argument(
        "--schedule", type=Path, default=None, help="fault schedule YAML (default: the built-in one)"
    )
    p.add_argument("--seed", type=int, default=None, help="override the schedule's seed")
    p.add_argument(
        "--startup-timeout", type=float, default=120.0, help="wall seconds until every agent is Ready"
    )
    p.add_argument(
        "--warmup-timeout",
        type=float,
        default=180.0,
        help="wall seconds to wait for the trader's first live order before the fault clock starts",
    )
    p.add_argument(
        "--no-faults", action="store_true", help="run the schedule's time without injecting faults"
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="then run the same again without faults (state dir <state>-nofaults, the replay aligned) and "
        "compare the two in the report",
    )
    p.add_argument("--align-replay-ms", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--check-only",
        type=Path,
        default=None,
        metavar="STATE_DIR",
        help="only run the invariant checker over a finished soak's state dir",
    )
    p.set_defaults(fn=cmd_soak)


def cmd_soak(ns: argparse.Namespace) -> int:
    if ns.check_only is not None:
        if not (ns.check_only / "audit.jsonl").exists():
            print(f"quantops soak: --check-only: {ns.check_only}/audit.jsonl not found", file=sys.stderr)
            return 2
        return run_check(ns.check_only)
    if ns.short:
        ns.schedule = ns.schedule or faultplan.SHORT_SCHEDULE
    ns.hours = ns.hours if ns.hours is not None else (2.0 if ns.short else 24.0)
    ns.speed = ns.speed if ns.speed is not None else (60.0 if ns.short else 600.0)
    if not (ns.hours > 0 and ns.speed > 0):
        print("quantops soak: --hours and --speed must be > 0", file=sys.stderr)
        return 2
    ns.file = ns.file or [DEFAULT_PLATFORM]
    try:
        faultplan.load_schedule(ns.schedule)
    except (OSError, ValueError) as e:
        print(f"quantops soak: --schedule: {e}", file=sys.stderr)
        return 2
    rc = run_soak(ns)
    if not ns.compare or ns.no_faults or rc == 2:
        return rc
    state: Path = ns.state_dir
    run = json.loads((soakrecords.soak_dir(state) / "run.json").read_text())
    clean = state.with_name(state.name + "-nofaults")
    print(f"soak: the same run without faults, in {clean}", file=sys.stderr)
    again = argparse.Namespace(**{**vars(ns), "state_dir": clean, "no_faults": True})
    again.align_replay_ms = run.get("replayMsAtT0")
    if run_soak(again) == 2:
        return 2
    return run_check(state, clean=clean)


def main(argv: list[str] | None = None) -> int:
    """``python -m quantops_local.soak [--state-dir DIR] [options]`` (the same as ``quantops soak``)."""
    ap = argparse.ArgumentParser(prog="quantops soak", description=__doc__)
    ap.add_argument("--state-dir", type=Path, default=Path(".quantops"))
    _options(ap)
    ns = ap.parse_args(argv)
    return int(ns.fn(ns))


if __name__ == "__main__":
    sys.exit(main())
