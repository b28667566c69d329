"""Incident tickets on repeated failures, deduplicated, with the evidence attached.

Why it exists (roadmap 96): one restart is noise; the same agent crashing three times in ten
minutes is an incident someone must look at, with the evidence captured *when it happened* (the
audit lines, the agent's status) — not reconstructed later from rotated logs. :class:`Ticketer`
counts failures per key in a sliding window; at ``threshold`` it opens a ticket as
``<dir>/<id>.md`` + ``<dir>/<id>.json`` (and returns a webhook payload). The id is a hash of the
key, so while a ticket is open further failures are appended to it as occurrences instead of
opening new tickets; :meth:`Ticketer.resolve` closes it and a later burst opens a fresh one.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Ticket", "Ticketer", "failure_key"]


def failure_key(record: dict[str, Any]) -> str | None:
    """The failure an audit record reports (``agent/<name>:<event>``), or None when it is not one."""
    if record.get("event") in ("AgentRestartScheduled", "AgentKilled", "StarvationDetected"):
        return f"agent/{record.get('agent') or record.get('source')}:{record['event']}"
    return None


@dataclass
class Ticket:
    id: str
    key: str
    title: str
    opened_at: float
    status: str = "open"
    occurrences: list[dict[str, Any]] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "openedAt": self.opened_at,
            "occurrences": self.occurrences,
            "evidence": self.evidence,
        }

    def webhook_payload(self) -> dict[str, Any]:
        """Slack-compatible, with the JSON ticket attached for machine consumers."""
        text = f":rotating_light: incident {self.id}: {self.title} ({len(self.occurrences)} occurrences)"
        return {"text": text, "ticket": self.to_json()}

    def markdown(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(self.opened_at))
        lines = [
            f"# Incident {self.id}: {self.title}",
            "",
            f"- status: **{self.status}**",
            f"- key: `{self.key}`",
            f"- opened: {when}",
            f"- occurrences: {len(self.occurrences)}",
            "",
            "## Occurrences",
            "",
        ]
        lines += [f"- {o.get('at')}: {o.get('reason', '')}" for o in self.occurrences]
        lines += ["", "## Evidence: agent status", "", "```json"]
        lines += [json.dumps(self.evidence.get("status"), indent=2, default=str), "```", ""]
        lines += ["## Evidence: last audit lines", "", "```"]
        lines += [json.dumps(r, default=str) for r in self.evidence.get("audit", [])]
        lines += ["```", ""]
        return "\n".join(lines)


@dataclass
class Ticketer:
    directory: Path
    threshold: int = 3
    window_seconds: float = 600.0
    evidence_lines: int = 30
    clock: Callable[[], float] = time.time
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def _paths(self, tid: str) -> tuple[Path, Path]:
        return self.directory / f"{tid}.json", self.directory / f"{tid}.md"

    def load(self, tid: str) -> Ticket | None:
        jpath, _ = self._paths(tid)
        if not jpath.exists():
            return None
        d = json.loads(jpath.read_text())
        return Ticket(
            d["id"], d["key"], d["title"], d["openedAt"], d["status"], d["occurrences"], d["evidence"]
        )

    def _save(self, t: Ticket) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        jpath, mpath = self._paths(t.id)
        jpath.write_text(json.dumps(t.to_json(), indent=2, default=str))
        mpath.write_text(t.markdown())

    def failure(
        self, key: str, reason: str, audit: list[dict[str, Any]], status: dict[str, Any] | None
    ) -> Ticket | None:
        """Record one failure; returns a ticket when one was *opened* (else None)."""
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        hits.append(now)
        while hits and now - hits[0] > self.window_seconds:
            hits.popleft()
        tid = "INC-" + hashlib.sha256(key.encode()).hexdigest()[:10]
        existing = self.load(tid)
        occurrence = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "reason": reason}
        if existing is not None and existing.status == "open":
            existing.occurrences.append(occurrence)
            existing.evidence["audit"] = audit[-self.evidence_lines :]
            self._save(existing)
            return None
        if len(hits) < self.threshold:
            return None
        t = Ticket(
            tid,
            key,
            f"{key} repeated {len(hits)}× in {self.window_seconds:.0f}s",
            now,
            occurrences=[occurrence],
            evidence={"audit": audit[-self.evidence_lines :], "status": status},
        )
        self._save(t)
        return t

    def resolve(self, tid: str) -> None:
        t = self.load(tid)
        if t is not None:
            t.status = "resolved"
            self._save(t)
            self._hits.pop(t.key, None)

    def tickets(self) -> list[dict[str, Any]]:
        if not self.directory.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.directory.glob("INC-*.json"))]
