"""Periodic audit report diff to ``growth_supervisor``: what changed since the last report.

Why it exists (roadmap 97): the audit log says *every* thing that happened; reviewers want the net
change — which policies, strategy versions/params, stages, gates and budgets are different from
the last report — as a readable unified diff. :func:`snapshot` renders the current state as
sorted ``section / key = value`` lines; :class:`AuditReporter` diffs them against the previous
report's lines, persists ``<dir>/report-NNNN.{json,diff}`` and returns one audit record
(``event: AuditReportDiff, stream: growth_supervisor``) for the supervisor's audit stream
(``audit.jsonl``). An unchanged state still yields a report, with an empty diff, so silence is
visible.
"""

from __future__ import annotations

import difflib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantops_trading.observability.records import budgets, stage_transitions

__all__ = ["AuditReporter", "Report", "snapshot"]


def _fmt(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def snapshot(
    status: dict[str, Any], records: list[dict[str, Any]], versions: dict[str, list[dict[str, Any]]]
) -> list[str]:
    """The reviewable state as sorted lines: policies, gates, strategies, stages, budgets."""
    lines: list[str] = []
    for scope, gate in sorted((status.get("gates") or {}).items()):
        section = "policies" if scope.startswith("RiskPolicy/") else "gates"
        lines.append(f"{section} / {scope} gate = {gate}")
    for name, rows in sorted(versions.items()):
        if not rows:
            continue
        cur = rows[-1]
        spec = cur.get("spec", {})
        lines.append(
            f"strategies / {name} version = {cur.get('version')} ({cur.get('fingerprint', '')[:12]})"
        )
        lines.append(f"strategies / {name} params = {_fmt(spec.get('params', {}))}")
        lines.append(f"strategies / {name} pairs = {_fmt(spec.get('pairs', []))}")
        lines.append(
            f"stages / {name} desired = {spec.get('desiredStage', spec.get('desired_stage', 'COLD'))}"
        )
    current: dict[str, str] = {}
    for t in stage_transitions(records):
        current[str(t["strategy"])] = str(t["new"])
    lines += [f"stages / {s} current = {st}" for s, st in sorted(current.items())]
    lines += [f"budgets / {k} = {v:g}" for k, v in sorted(budgets(records).items())]
    return sorted(lines)


@dataclass(frozen=True)
class Report:
    seq: int
    diff: str
    lines: list[str]
    path: Path

    def audit_record(self) -> dict[str, Any]:
        changed = sum(1 for d in self.diff.splitlines() if d[:1] in "+-" and d[:3] not in ("+++", "---"))
        return {
            "event": "AuditReportDiff",
            "stream": "growth_supervisor",
            "report": self.seq,
            "changes": changed,
            "path": str(self.path),
            "diff": self.diff,
        }


class AuditReporter:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _last(self) -> tuple[int, list[str]]:
        reports = sorted(self.directory.glob("report-*.json"))
        if not reports:
            return 0, []
        d = json.loads(reports[-1].read_text())
        return int(d["seq"]), list(d["lines"])

    def report(self, lines: list[str], now: float | None = None) -> Report:
        self.directory.mkdir(parents=True, exist_ok=True)
        seq, old = self._last()
        seq += 1
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))
        diff = "".join(
            difflib.unified_diff(
                [x + "\n" for x in old],
                [x + "\n" for x in lines],
                fromfile=f"report-{seq - 1:04d}" if seq > 1 else "(nothing)",
                tofile=f"report-{seq:04d} {stamp}",
            )
        )
        base = self.directory / f"report-{seq:04d}"
        base.with_suffix(".json").write_text(json.dumps({"seq": seq, "at": stamp, "lines": lines}, indent=1))
        base.with_suffix(".diff").write_text(diff)
        return Report(seq, diff, lines, base.with_suffix(".diff"))
