"""The `quantops` command: up, status, gate, runbook, rollback, postmortem, validate, soak.

`up` runs the manifests locally (no Kubernetes); `status`, `gate` and `runbook` talk to a running
`quantops up` through the URL it records in <state-dir>/supervisor.json, authenticated with the run
token in <state-dir>/control.token (readable by its user only), or to Kubernetes with --kube.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from quantops_api import ManifestError
from quantops_api.orchestration import DependencyError
from quantops_local import auth, manifests, progress, rollback, runbook, soak, wrapup
from quantops_local.supervisor import Supervisor
from quantops_local.terminal import AuditFollower

DEFAULT_STATE = Path(".quantops")


def _url(state_dir: Path) -> str:
    path = state_dir / "supervisor.json"
    if not path.exists():
        raise SystemExit(f"no running `quantops up` found ({path} missing); start one or pass --state-dir")
    return str(json.loads(path.read_text())["url"])


def _api(state_dir: Path, method: str, path: str, **kw: Any) -> httpx.Response:
    """One authenticated call to the running supervisor (the run token is this user's credential)."""
    url = _url(state_dir)
    try:
        token = auth.read_token_file(state_dir)
    except auth.TokenFileError as e:
        raise SystemExit(f"quantops: {e}") from None
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.request(method, f"{url}{path}", headers=headers, timeout=5, **kw)
    if r.status_code in (401, 403):
        raise SystemExit(f"quantops: {method} {path}: HTTP {r.status_code}: {_error(r)}")
    return r


def _error(r: httpx.Response) -> str:
    try:
        return str(r.json().get("error", r.text))
    except ValueError:
        return r.text[:300]


class StateInUse(RuntimeError):
    """The state dir belongs to a `quantops up` that is still running."""


def archive_state(state_dir: Path, now: dt.datetime | None = None) -> Path | None:
    """Move a previous run's state aside (``<state-dir>.<UTC time>``) so a run starts clean.

    Why: event logs, positions, stages and rollback history carry over between runs on purpose (a
    restart resumes); a demo against a fresh simulator wants none of it. Nothing is deleted. Refuses
    while the recorded supervisor process is alive.
    """
    if not state_dir.is_dir() or not any(state_dir.iterdir()):
        return None
    record = state_dir / "supervisor.json"
    if record.exists():
        pid = int(json.loads(record.read_text()).get("pid", 0))
        try:
            if pid > 0:
                os.kill(pid, 0)
                raise StateInUse(f"{state_dir} belongs to a running `quantops up` (pid {pid}); stop it first")
        except ProcessLookupError:
            pass  # the recorded supervisor is gone
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    dest = state_dir.with_name(f"{state_dir.name}.{stamp}")
    state_dir.rename(dest)
    return dest


def cmd_up(ns: argparse.Namespace) -> int:
    if ns.speed is not None and not ns.speed > 0:
        print(f"quantops up: --speed: must be > 0 (got {ns.speed:g})", file=sys.stderr)
        return 2
    if ns.duration is not None and not ns.duration > 0:
        print(f"quantops up: --duration: must be > 0 seconds (got {ns.duration:g})", file=sys.stderr)
        return 2
    try:
        loaded = manifests.load(ns.file)
    except (ManifestError, DependencyError) as e:
        print(f"quantops up: invalid manifests:\n{e}", file=sys.stderr)
        return 2
    if ns.fresh:
        try:
            kept = archive_state(ns.state_dir)
        except StateInUse as e:
            print(f"quantops up: --fresh: {e}", file=sys.stderr)
            return 2
        if kept is not None:
            print(f"previous state kept in {kept}", file=sys.stderr)
    try:
        objects = rollback.apply_history(ns.state_dir, loaded)
        rollback.record(ns.state_dir, objects)
        sup = Supervisor(objects, ns.state_dir, port=ns.port, speed=ns.speed, echo_json=ns.json)
    except (ManifestError, DependencyError) as e:
        print(f"quantops up: invalid manifests:\n{e}", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    if ns.speed:
        day = 86400 / ns.speed
        console.print(f"replay speed ×{ns.speed:g}: one day of market data in {day / 60:.1f} min")

    follow = None if ns.json else AuditFollower(sup.audit_path)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # graceful: agents get SIGTERM in reverse order
            loop.add_signal_handler(sig, sup.stopping.set)
        watcher = asyncio.create_task(progress.watch(sup, ns.duration, console, not ns.no_progress, follow))
        try:
            await sup.run(duration=ns.duration)
        finally:
            sup.stopping.set()
            await watcher

    asyncio.run(main())
    for line in follow.lines() if follow is not None else ():  # the shutdown's own records
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return wrap_up(sup, ns, console)


def wrap_up(sup: Supervisor, ns: argparse.Namespace, console: Console) -> int:
    """Every agent has exited: verify the event logs, then write the postmortem."""
    ok, bad = wrapup.verify_event_logs(ns.state_dir)
    sup.audit("EventLogsVerified", verified=ok, broken=bad)
    for name, rows in ok.items():
        console.print(f"event log {name}: {rows} rows, hash chain verified")
    for name, err in bad.items():
        console.print(f"[bold red]event log {name}: BROKEN[/] {err}")
    if not ns.no_postmortem:
        paths = wrapup.postmortem(ns.state_dir)
        sup.audit("PostmortemWritten", html=str(paths["html"]), md=str(paths["md"]), by="quantops up")
        console.print(f"postmortem: {paths['html']}")
    return 1 if bad else 0


def cmd_postmortem(ns: argparse.Namespace) -> int:
    try:
        day = dt.date.fromisoformat(ns.day) if ns.day else None
    except ValueError:
        print(f"quantops postmortem: --day: {ns.day!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    if not (ns.state_dir / "audit.jsonl").exists():
        print(f"quantops postmortem: --state-dir: {ns.state_dir}/audit.jsonl not found", file=sys.stderr)
        return 2
    paths = wrapup.postmortem(ns.state_dir, day)
    print(json.dumps({k: str(v) for k, v in paths.items()}, indent=2))
    return 0


def cmd_status(ns: argparse.Namespace) -> int:
    data = _api(ns.state_dir, "GET", "/api/status").json()
    if ns.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{'AGENT':<16}{'ROLE':<12}{'PHASE':<12}{'READY':<7}{'GATE':<7}{'RESTARTS':<10}REASON")
    for a in data["agents"]:
        print(
            f"{a['name']:<16}{a['role']:<12}{a['phase']:<12}{a['ready']!s:<7}{a['effectiveGate']:<7}"
            f"{a['restarts']:<10}{a['reason']}: {a['message']}"
        )
    print("\nGATES: " + ", ".join(f"{k}={v}" for k, v in sorted(data["gates"].items())))
    for (gate, source), names in runbook.gate_causes(data["agents"]).items():  # one line per cause
        print(f"HELD: {gate} from {source}: {', '.join(names)}")
    strategies = _api(ns.state_dir, "GET", "/api/strategies").json()["strategies"]
    if strategies:
        print(f"\n{'STRATEGY':<24}{'DESIRED':<9}{'STAGE':<7}{'SINCE':<22}LAST DECISION")
    for s in strategies:
        st = s["status"]
        since = str((st.get("transitions") or [{}])[-1].get("at", ""))[:19]
        why = ((st.get("evidence") or {}).get("decision") or {}).get("reason", "")
        stage = st.get("stage") or "-"
        print(f"{s['name']:<24}{s['spec'].get('desiredStage', '-'):<9}{stage:<7}{since:<22}{why}")
    return 0


def cmd_gate(ns: argparse.Namespace) -> int:
    if ns.kube:
        kind, _, name = ns.scope.partition("/")
        kind, name = ("riskpolicy", "global") if ns.scope == "global" else (kind, name)
        patch = json.dumps(
            {
                "metadata": {"annotations": {"quantops.dev/gate-reason": ns.reason}},
                "spec": {"gate": ns.gate.upper()},
            }
        )
        return subprocess.call(
            [ns.kubectl, "-n", ns.namespace, "patch", kind, name, "--type=merge", "-p", patch]
        )
    # who: the supervisor records the credential's principal (cli:<user>), not anything sent here
    r = _api(
        ns.state_dir, "POST", "/api/gate", json={"scope": ns.scope, "gate": ns.gate, "reason": ns.reason}
    )
    body: dict[str, Any] = r.json()
    if r.status_code != 200:
        print(f"quantops gate: {body['error']}", file=sys.stderr)
        return 2
    print(f"{body['scope']}: {body['old']} → {body['new']}")
    return 0


def cmd_runbook(ns: argparse.Namespace) -> int:
    if ns.kube:
        out = subprocess.run(
            [ns.kubectl, "-n", ns.namespace, "get", "agents", "-o", "json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows = runbook.rows_from_kube(json.loads(out)["items"])
    else:
        data = _api(ns.state_dir, "GET", "/api/status").json()
        rows = data["agents"]
    text = runbook.render(rows, kube=ns.kube)
    if ns.output:
        Path(ns.output).write_text(text)
    else:
        print(text)
    return 0


def cmd_rollback(ns: argparse.Namespace) -> int:
    try:
        if ns.kube:
            out = rollback.rollback_kube(
                ns.kubectl, ns.namespace, ns.name, record_only=ns.record, reason=ns.reason
            )
        else:
            out = rollback.rollback_local(ns.state_dir, ns.name, ns.reason)
    except rollback.RollbackError as e:
        print(f"quantops rollback: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=2))
    return 0


def cmd_validate(ns: argparse.Namespace) -> int:
    try:
        objs = manifests.load(ns.file)
    except ManifestError as e:
        print(e, file=sys.stderr)
        return 2
    print(f"{len(objs)} objects valid")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="quantops", description=__doc__)
    ap.add_argument("--state-dir", type=Path, default=DEFAULT_STATE)
    ap.add_argument(
        "--kubectl",
        default=os.environ.get("QUANTOPS_KUBECTL", "kubectl"),
        help="kubectl binary for --kube (uses $KUBECONFIG)",
    )
    sub = ap.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the manifests locally")
    up.add_argument("-f", "--file", type=Path, action="append", required=True)
    up.add_argument("--duration", type=float, default=None, help="stop by itself after this many seconds")
    up.add_argument("--port", type=int, default=0, help="supervisor API port (default: a free one)")
    up.add_argument(
        "--speed",
        type=float,
        default=None,
        help="venue replay factor (replay seconds per wall second; 1440 = a day of data a minute)",
    )
    up.add_argument(
        "--fresh",
        action="store_true",
        help="start clean: move the previous run's state dir aside (<state-dir>.<UTC time>) first",
    )
    up.add_argument("--no-progress", action="store_true", help="no progress bars")
    up.add_argument(
        "--json",
        action="store_true",
        help="print the supervisor's audit records as JSON lines instead of readable lines",
    )
    up.add_argument("--no-postmortem", action="store_true", help="skip the postmortem at the end")
    up.set_defaults(fn=cmd_up)
    st = sub.add_parser("status", help="agents, gates and conditions")
    st.add_argument("--json", action="store_true")
    st.set_defaults(fn=cmd_status)
    g = sub.add_parser("gate", help="flip a gate: global, agent/NAME, strategy/NAME, riskpolicy/NAME")
    g.add_argument("scope")
    g.add_argument("gate", choices=["STOP", "PAUSE", "CHECK", "GO", "stop", "pause", "check", "go"])
    g.add_argument("--reason", default="manual gate change")
    g.add_argument("--kube", action="store_true")
    g.add_argument("-n", "--namespace", default="default")
    g.set_defaults(fn=cmd_gate)
    rb = sub.add_parser("runbook", help="Markdown runbook from live agent states")
    rb.add_argument("--kube", action="store_true")
    rb.add_argument("-n", "--namespace", default="default")
    rb.add_argument("-o", "--output")
    rb.set_defaults(fn=cmd_runbook)
    rbk = sub.add_parser("rollback", help="restore the previous Strategy spec from history")
    rbk.add_argument("kind", choices=["strategy"])
    rbk.add_argument("name")
    rbk.add_argument("--kube", action="store_true", help="the Strategy object in Kubernetes (kubectl)")
    rbk.add_argument("--record", action="store_true", help="--kube: only record the live spec in history")
    rbk.add_argument("-n", "--namespace", default="default")
    rbk.add_argument("--reason", default="quantops rollback")
    rbk.set_defaults(fn=cmd_rollback)
    pm = sub.add_parser("postmortem", help="write the end-of-day postmortem from --state-dir")
    pm.add_argument("--day", help="UTC day YYYY-MM-DD (default: today)")
    pm.set_defaults(fn=cmd_postmortem)
    v = sub.add_parser("validate", help="validate manifests with the API models")
    v.add_argument("-f", "--file", type=Path, action="append", required=True)
    v.set_defaults(fn=cmd_validate)
    soak.add_parser(sub)  # `quantops soak`: docs/soak.md
    return ap


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    return int(ns.fn(ns))


if __name__ == "__main__":
    sys.exit(main())
