"""Evidence snapshots (roadmap 25): one JSON file per pipeline run, announced in the event log.

Why it exists: "why is this strategy HOT?" must be answerable months later without re-running
anything. Each run writes ``<dir>/<runId>.json`` — the exported run flags (29), inputs (strategy
specs and fingerprints), data fingerprints, metrics per strategy and path, validation, envelope
and governor results, alerts, dedup and retry records, and every decision with its reason — then
appends a ``PipelineRunRecorded`` event carrying the file's sha256, so the hash-chained log vouches
for the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantops_trading.storage.eventlog import EventLog

__all__ = ["EvidenceSnapshot", "read_snapshot"]


@dataclass
class EvidenceSnapshot:
    run_id: str
    started_at: float
    flags: dict[str, Any]
    flags_fingerprint: str
    inputs: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    dedup: dict[str, int] = field(default_factory=dict)
    retries: dict[str, Any] = field(default_factory=dict)
    pool: dict[str, Any] = field(default_factory=dict)
    finished_at: float | None = None

    def export(self) -> dict[str, Any]:
        return {
            "runId": self.run_id, "startedAt": self.started_at, "finishedAt": self.finished_at,
            "flags": self.flags, "flagsFingerprint": self.flags_fingerprint, "inputs": self.inputs,
            "data": self.data, "metrics": self.metrics, "checks": self.checks, "decisions": self.decisions,
            "alerts": self.alerts, "candidates": self.candidates, "dedup": self.dedup,
            "retries": self.retries, "pool": self.pool,
        }  # fmt: skip

    def persist(self, directory: Path, events: EventLog | None) -> Path:
        """Write the snapshot atomically and record it (path + sha256) in ``events``."""
        directory.mkdir(parents=True, exist_ok=True)
        body = json.dumps(self.export(), sort_keys=True, indent=1, default=str).encode()
        path = directory / f"{self.run_id}.json"
        tmp = directory / f".{self.run_id}.tmp"
        with tmp.open("wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        if events is not None:
            events.append(
                {
                    "kind": "PipelineRunRecorded", "ts_ns": int((self.finished_at or self.started_at) * 1e9),
                    "run_id": self.run_id, "path": str(path), "sha256": hashlib.sha256(body).hexdigest(),
                    "decisions": len(self.decisions), "flags_fingerprint": self.flags_fingerprint,
                }
            )  # fmt: skip
        return path


def read_snapshot(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not an evidence snapshot: {e}") from e
    if "runId" not in data:
        raise ValueError(f"{path}: not an evidence snapshot: no runId")
    return data
