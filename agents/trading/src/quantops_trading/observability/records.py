"""Reading audit records and strategy history into the views the dashboard and reports share.

Why it exists: the dashboard (91), the audit diff (97) and the postmortem (100) must agree on what
a stage transition, a budget, a PnL point or a gate change *is*. Records come from two places —
``audit.jsonl`` lines (``event`` names, written by the local supervisor and the supervisor role) and
event-log payloads (``kind`` names, written by the trading library) — and :func:`kind_of` treats
both alike. Conventions for the records the trading agents publish for the dashboard:

- ``{"event": "StageChanged", "strategy", "old", "new", "reason"}`` or the risk engine's
  ``risk_stage_demoted`` (``strategy_id``) — stage transitions and promotions;
- ``risk_budget_changed`` (``total``, ``allocations``) — budgets;
- ``{"event": "PnlSnapshot", "strategy", "pnl", "equity"}`` — PnL points;
- ``{"event": "RiskUtilisation", "utilisation": {name: share}, "heatmap": concentration_heatmap()}``.

Strategy spec history is ``<state>/strategies/<name>.jsonl``, one version per line (newest last),
written by ``quantops up`` and ``quantops rollback`` (quantops_local.rollback).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

__all__ = [
    "STAGE_EVENTS",
    "budgets",
    "drawdown",
    "gate_changes",
    "kind_of",
    "pnl_series",
    "stage_transitions",
    "strategy_versions",
    "timestamp",
]

STAGE_EVENTS = ("StageChanged", "StrategyPromoted", "StrategyDemoted", "risk_stage_demoted")


def kind_of(rec: dict[str, Any]) -> str:
    return str(rec.get("event") or rec.get("kind") or "")


def timestamp(rec: dict[str, Any]) -> float:
    """Seconds since the epoch from ``at`` (ISO or number) or ``ts_ns``; 0 when absent."""
    at = rec.get("at")
    if isinstance(at, int | float):
        return float(at)
    if isinstance(at, str):
        try:
            t = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            return 0.0
        return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()
    ts_ns = rec.get("ts_ns")
    return float(ts_ns) / 1e9 if isinstance(ts_ns, int) else 0.0


def gate_changes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        k = kind_of(r)
        if k in ("GateChanged", "gate_changed"):
            out.append(
                {
                    "at": timestamp(r),
                    "scope": r.get("scope"),
                    "old": r.get("old"),
                    "new": r.get("new"),
                    "reason": r.get("reason", ""),
                    "who": r.get("who") or r.get("actor") or "",
                }
            )
    return out


def stage_transitions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        if kind_of(r) in STAGE_EVENTS:
            out.append(
                {
                    "at": timestamp(r),
                    "strategy": r.get("strategy") or r.get("strategy_id"),
                    "old": r.get("old"),
                    "new": r.get("new"),
                    "reason": r.get("reason", ""),
                }
            )
    return out


def budgets(records: list[dict[str, Any]]) -> dict[str, float]:
    """The latest allocation per strategy (plus ``total``) from budget-change records."""
    out: dict[str, float] = {}
    for r in records:
        if kind_of(r) in ("risk_budget_changed", "BudgetChanged"):
            out = {str(k): float(v) for k, v in (r.get("allocations") or {}).items()}
            if r.get("total") is not None:
                out["total"] = float(r["total"])
    return out


def pnl_series(records: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """PnL points per strategy plus ``total`` (sum of each strategy's latest value at each point)."""
    per: dict[str, list[tuple[float, float]]] = {}
    latest: dict[str, float] = {}
    total: list[tuple[float, float]] = []
    for r in records:
        if kind_of(r) == "PnlSnapshot":
            at, s, v = timestamp(r), str(r.get("strategy", "?")), float(r.get("pnl", 0.0))
            per.setdefault(s, []).append((at, v))
            latest[s] = v
            total.append((at, sum(latest.values())))
    if total:
        per["total"] = total
    return per


def drawdown(values: list[float]) -> list[float]:
    """Drawdown from the running peak (≤ 0), same length as ``values``."""
    peak, out = float("-inf"), []
    for v in values:
        peak = max(peak, v)
        out.append(v - peak)
    return out


def strategy_versions(state_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every strategy's recorded spec versions, oldest first."""
    out: dict[str, list[dict[str, Any]]] = {}
    folder = state_dir / "strategies"
    if not folder.exists():
        return out
    for p in sorted(folder.glob("*.jsonl")):
        rows = []
        for line in p.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        out[p.stem] = rows
    return out
