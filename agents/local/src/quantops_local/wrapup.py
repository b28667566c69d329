"""After `quantops up` stops: prove nothing was lost, and write the day's postmortem.

Why it exists: "stops cleanly, nothing lost" must be checked, not hoped. Once every agent has
exited (so every event log is flushed and closed), :func:`verify_event_logs` re-verifies each hash
chain under ``<state>/eventlogs`` and ``<state>/canary``; a broken chain is reported with the file
and the row. :func:`postmortem` then writes the end-of-day report (roadmap 100) for the run's UTC
day(s) into ``<state>/postmortems``. Both results are audited.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from quantops_trading.observability import postmortem as pm
from quantops_trading.storage.eventlog import EventLog, EventLogError

__all__ = ["event_log_paths", "postmortem", "verify_event_logs"]


def event_log_paths(state_dir: Path) -> list[Path]:
    return sorted([*state_dir.glob("eventlogs/*.sqlite"), *state_dir.glob("canary/*.sqlite")])


def verify_event_logs(state_dir: Path) -> tuple[dict[str, int], dict[str, str]]:
    """(rows per verified log, error per broken log), keyed by path relative to ``state_dir``."""
    ok: dict[str, int] = {}
    bad: dict[str, str] = {}
    for p in event_log_paths(state_dir):
        key = str(p.relative_to(state_dir))
        try:
            with EventLog(p) as log:
                ok[key] = log.verify()
        except EventLogError as e:
            bad[key] = str(e)
    return ok, bad


def postmortem(state_dir: Path, day: dt.date | None = None) -> dict[str, Path]:
    """Write the postmortem of ``day`` (default: today, UTC) from the state directory."""
    return pm.write_for_state(state_dir, day or dt.datetime.now(dt.UTC).date())
