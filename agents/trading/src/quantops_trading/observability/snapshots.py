"""Status heartbeat snapshots and the audit tail: the two data feeds of the dashboard.

Why it exists (roadmap 92): /api/status is a *now* view; people want to scroll back ("when did the
trader go Degraded, and what was its queue then?"). Every ``snapshotSeconds`` (5 s by default, the
heartbeat period) the supervisor role condenses /api/status into one JSON line in
``<state>/heartbeats.jsonl``; :meth:`HeartbeatStore.history` serves them to the dashboard's history
endpoint. The file is compacted to the newest ``keep`` lines by an atomic rename, so it stays
bounded on a long-running laptop. :class:`AuditTail` reads ``audit.jsonl`` incrementally (byte
offset, whole lines only) so the supervisor never re-parses the whole audit log per poll.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["AuditTail", "HeartbeatStore", "condense", "read_jsonl"]


def condense(status: dict[str, Any], at: float | None = None) -> dict[str, Any]:
    """The facts of /api/status worth keeping per beat (not messages, pids or ports)."""
    agents = {
        a["name"]: {
            "phase": a.get("phase"),
            "ready": a.get("ready"),
            "gate": a.get("effectiveGate"),
            "restarts": a.get("restarts", 0),
            "queue": a.get("queueLength", 0),
            "openOrders": a.get("openOrders", 0),
            "lastHeartbeat": a.get("lastHeartbeat"),
        }
        for a in status.get("agents", [])
    }
    return {
        "at": round(time.time() if at is None else at, 3),
        "agents": agents,
        "gates": status.get("gates", {}),
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every well-formed JSON object line of ``path`` (a torn last line is skipped)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


class HeartbeatStore:
    """Append-only JSONL of condensed status snapshots, compacted to the newest ``keep`` lines."""

    def __init__(self, path: Path, keep: int = 17280) -> None:  # 24 h at 5 s
        self.path, self.keep = path, keep
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lines = sum(1 for _ in self.path.open()) if self.path.exists() else 0

    def append(self, snapshot: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(snapshot, separators=(",", ":"), default=str) + "\n")
        self._lines += 1
        if self._lines > self.keep * 1.25:
            self.compact()

    def compact(self) -> None:
        lines = self.path.read_text().splitlines()[-self.keep :]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in lines))
        os.replace(tmp, self.path)
        self._lines = len(lines)

    def history(self, since: float | None = None, limit: int = 720) -> list[dict[str, Any]]:
        rows = read_jsonl(self.path)
        if since is not None:
            rows = [r for r in rows if float(r.get("at", 0)) > since]
        return rows[-limit:]


class AuditTail:
    """Incremental reader of ``audit.jsonl``: :meth:`poll` returns the records appended since."""

    def __init__(self, path: Path, keep: int = 2000) -> None:
        self.path, self.keep = path, keep
        self.offset = 0
        self.records: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # only whole lines; a line being written is read next time
        self.offset += end
        new = list(_parse(chunk[:end].decode(errors="replace").splitlines()))
        self.records = (self.records + new)[-self.keep :]
        return new

    def of(self, *events: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("event") in events]


def _parse(lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    for line in lines:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            yield rec
