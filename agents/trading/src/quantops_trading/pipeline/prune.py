"""Auto-prune of dead strategies (roadmap 33).

Why it exists: a strategy that has not traded — in its backtests or on paper — for a long time
still costs a pipeline slot and clutters the leaderboard. Its *last activity* is the latest time
one of its runs produced trades (or its paper log recorded a fill); after ``prune_after_hours``
without activity it is pruned: demoted to COLD if it was above, removed from the leaderboard and
skipped by later cycles until its fingerprint (code or params) changes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PruneDecision", "prune_decision"]


@dataclass(frozen=True)
class PruneDecision:
    prune: bool
    idle_hours: float
    reason: str


def prune_decision(
    last_active: float | None, first_seen: float, now: float, after_hours: float
) -> PruneDecision:
    """Prune when nothing happened for ``after_hours`` (counted from first sight if never active)."""
    since = last_active if last_active is not None else first_seen
    idle = max(0.0, (now - since) / 3600.0)
    if idle < after_hours:
        return PruneDecision(False, idle, f"active {idle:.1f} h ago (< {after_hours} h)")
    what = "no trades since first seen" if last_active is None else "no trades"
    return PruneDecision(True, idle, f"inactive: {what} for {idle:.1f} h (≥ {after_hours} h)")
