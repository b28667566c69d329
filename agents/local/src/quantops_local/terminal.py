"""What a person reads in the terminal of `quantops up`: one short line per thing that happened.

Why it exists: the audit stream (``<state-dir>/audit.jsonl``) is written by the supervisor and
by every agent, one JSON record per automatic decision — right for tools and the postmortem,
unreadable scrolling past. :class:`AuditFollower` follows that file (every writer, not only the
supervisor) and :func:`human_line` turns each record into a line: agents starting in waves,
restarts and recycles, gate changes and who made them, kill switches, canary failures, stage
changes, incidents. Periodic records (P&L snapshots, risk utilisation, canary passes) are left to
the progress display and the dashboard. ``quantops up --json`` prints the supervisor's records
as JSON lines instead (the machine format), and audit.jsonl always holds all of them.

What it must not do: interpret or change records; print a secret (records never hold one).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["QUIET", "AuditFollower", "human_line"]

QUIET = frozenset(
    {  # periodic or bookkeeping records: the progress line and the dashboard show them
        "PnlSnapshot", "RiskUtilisation", "CanaryPassed", "LeaseReleased", "DashboardAvailable",
        "EventLogsVerified", "PostmortemWritten", "HeartbeatSnapshot", "AuditReportDiff",
    }
)  # fmt: skip


def _clock(at: Any) -> str:
    try:
        t = (
            dt.datetime.fromtimestamp(float(at), dt.UTC)
            if isinstance(at, int | float)
            else dt.datetime.fromisoformat(str(at))
        )
    except (TypeError, ValueError, OverflowError):
        return "--:--:--"
    return t.astimezone(dt.UTC).strftime("%H:%M:%S")


def _why(r: dict[str, Any]) -> str:
    return str(r.get("reason") or r.get("message") or "")


def _gate(r: dict[str, Any]) -> str:
    who = r.get("who") or r.get("actor") or "?"
    return f"gate {r.get('scope')}: {r.get('old')} → {r.get('new')} by {who}: {_why(r)}"


def _waves(r: dict[str, Any]) -> str:
    order = " → ".join(", ".join(w) for w in r.get("waves") or [])
    return f"supervisor on {r.get('url')}; agents start in waves: {order}"


_FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "SupervisorStarted": _waves,
    "SupervisorStopped": lambda r: "supervisor stopped",
    "AgentStarted": lambda r: f"{r.get('agent')} started (pid {r.get('pid')}): {_why(r)}",
    "AgentStopping": lambda r: f"{r.get('agent')} stopping: {_why(r)}",
    "AgentKilled": lambda r: f"{r.get('agent')} KILLED: {_why(r)}",
    "AgentRestartScheduled": lambda r: (
        f"{r.get('agent')} exited ({_why(r)}); restart #{r.get('restarts')} in {r.get('delay')} s"
    ),
    "AgentRecycled": lambda r: f"{r.get('agent')} recycled: {_why(r)}",
    "AgentRecovered": lambda r: f"{r.get('agent')} recovered: {_why(r)}",
    "GateChanged": _gate,
    "KillSwitchTripped": lambda r: (
        f"kill switch {r.get('switch')} on {r.get('scope')}: {r.get('gate') or 'lifted'} — {_why(r)}"
    ),
    "CanaryFailed": lambda r: (
        f"CANARY FAILED ({'transient venue fault' if r.get('transient') else 'platform'}): {_why(r)}"
    ),
    "StageApplied": lambda r: (
        f"{r.get('agent')}: {r.get('strategy_id')} runs at {r.get('new')} (was {r.get('old')}): {_why(r)}"
    ),
}


def human_line(rec: dict[str, Any]) -> str | None:
    """``HH:MM:SS what happened`` (UTC) for one audit record, or None for a quiet one."""
    kind = str(rec.get("event") or rec.get("kind") or "")
    if not kind or kind in QUIET:
        return None
    fmt = _FORMATS.get(kind)
    if fmt is not None:
        body = fmt(rec)
    else:
        who = rec.get("agent") or rec.get("by") or rec.get("scope") or ""
        body = f"{kind}{' ' + str(who) if who else ''}: {_why(rec)}".rstrip(": ")
    return f"{_clock(rec.get('at'))} {body}"


class AuditFollower:
    """New complete lines of ``audit.jsonl`` since the last call, as readable lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def lines(self) -> list[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]  # a record being written is read next time
        self.offset += len(complete)
        out = []
        for raw in complete.splitlines():
            try:
                rec = json.loads(raw)
            except ValueError:
                continue  # the audit's own verification reports a damaged line; not the terminal's
            line = human_line(rec) if isinstance(rec, dict) else None
            if line is not None:
                out.append(line)
        return out
