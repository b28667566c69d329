"""The soak's report tables: per fault kind, and the faulted run against the same run without faults.

Why it exists: a row per fault answers "did this one go well"; a quant team asks per kind — how
often, always seen, how fast seen and recovered, what it cost in refused orders and PnL — and what
the faults cost in all, which only a run without them on the same market can say. Everything is
read from the records (:class:`~quantops_local.soakrecords.Evidence`) and the checker's results.

PnL here is the live strategies' own (the last ``PnlSnapshot`` of each non-paper strategy, in the
quote currency). Per fault it is the change from its start to ``recover_s`` after its end: the
market moves in that window too, so it is an exposure, not an attribution; the comparison run is
the attribution.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from pathlib import Path
from typing import Any

from quantops_local.invariants import FaultResult, Report
from quantops_local.soakrecords import Evidence

__all__ = ["append_to_postmortem", "by_kind", "comparison", "final_pnl", "kind_table"]


def _pnl_series(ev: Evidence) -> dict[str, tuple[list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float]]] = {}
    for strategy, recs in ev.strategy_logs.items():
        pts = sorted(
            (r.ts, float(r.data.get("pnl", 0.0)))
            for r in recs
            if r.kind == "PnlSnapshot" and not r.data.get("paper")
        )
        if pts:
            out[strategy] = ([t for t, _ in pts], [v for _, v in pts])
    return out


def _pnl_at(series: dict[str, tuple[list[float], list[float]]], t: float) -> float:
    total = 0.0
    for ts, vals in series.values():
        i = bisect.bisect_right(ts, t)
        total += vals[i - 1] if i else 0.0
    return total


def final_pnl(ev: Evidence) -> float:
    """The live strategies' PnL at their last snapshot, summed (quote currency)."""
    return round(sum(vals[-1] for _, vals in _pnl_series(ev).values()), 6)


def _pct(xs: list[float], q: float) -> float | None:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] if xs else None


def by_kind(ev: Evidence, results: list[FaultResult], recover_s: float) -> list[dict[str, Any]]:
    """One row per fault kind: count, detected, time to detect/recover (p50, max, wall seconds),
    orders the risk gateway refused inside its faults, the live PnL change over them."""
    wall = {
        str(f["id"]): (float(f["startedAt"]), float(f.get("endedAt") or f["startedAt"])) for f in ev.faults
    }
    denied = sorted(r.ts for rs in ev.strategy_logs.values() for r in rs if r.kind == "order_denied")
    series = _pnl_series(ev)
    groups: dict[str, list[FaultResult]] = defaultdict(list)
    for r in results:
        groups[r.kind].append(r)
    rows = []
    for kind, rs in sorted(groups.items()):
        refused, pnl = 0, 0.0
        for r in rs:
            t0, t1 = wall[r.id]
            refused += bisect.bisect_right(denied, t1) - bisect.bisect_left(denied, t0)
            pnl += _pnl_at(series, t1 + recover_s) - _pnl_at(series, t0)
        dets = [r.detect_s for r in rs if r.detect_s is not None]
        recs = [r.recover_s for r in rs if r.recovered and r.recover_s is not None]
        expected = [r for r in rs if r.recovered is not None]
        rows.append({
            "kind": kind, "count": len(rs), "detected": sum(r.detected for r in rs),
            "detectP50": _pct(dets, 0.5), "detectMax": max(dets, default=None),
            "recovered": f"{sum(bool(r.recovered) for r in expected)}/{len(expected)}" if expected else "n/a",
            "recoverP50": _pct(recs, 0.5), "recoverMax": max(recs, default=None),
            "ordersRefused": refused, "pnlChange": round(pnl, 4),
        })  # fmt: skip
    return rows


def _cell(v: Any) -> str:
    return "—" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def kind_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| fault kind | count | detected | detect p50 / max s | recovered | recover p50 / max s "
        "| orders refused | live PnL change |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['count']} | {r['detected']}/{r['count']} "
            f"| {_cell(r['detectP50'])} / {_cell(r['detectMax'])} | {r['recovered']} "
            f"| {_cell(r['recoverP50'])} / {_cell(r['recoverMax'])} "
            f"| {r['ordersRefused']} | {r['pnlChange']:+g} |"
        )
    return lines


def _row(ev: Evidence, report: Report) -> dict[str, Any]:
    f = report.figures
    return {
        "live orders": f["ordersSubmitted"],
        "fills booked": f["fillsBooked"],
        "canary orders": f["canaryOrders"],
        "orders refused by risk": sum(
            1 for rs in ev.strategy_logs.values() for r in rs if r.kind == "order_denied"
        ),
        "gate changes": f["gateChanges"],
        "agent restarts": f["agentRestarts"],
        "manual interventions": f["manualInterventions"],
        "live PnL (quote)": final_pnl(ev),
        "invariants": "all hold"
        if report.ok
        else "FAILED: " + ", ".join(c.name for c in report.checks if not c.ok),
        "replay ms at t0": ev.run.get("replayMsAtT0"),
    }


def comparison(faulted: tuple[Evidence, Report], clean: tuple[Evidence, Report]) -> dict[str, Any]:
    """The two runs side by side, and what the faults cost (faulted − clean)."""
    a, b = _row(*faulted), _row(*clean)
    delta = {
        k: round(a[k] - b[k], 6) for k in a if isinstance(a[k], int | float) and isinstance(b[k], int | float)
    }
    delta.pop("replay ms at t0", None)
    return {"faulted": a, "withoutFaults": b, "faultsCost": delta}


def comparison_table(cmp: dict[str, Any]) -> list[str]:
    lines = ["| figure | with faults | without faults | difference |", "|---|---|---|---|"]
    for k, v in cmp["faulted"].items():
        d = cmp["faultsCost"].get(k)
        lines.append(
            f"| {k} | {_cell(v)} | {_cell(cmp['withoutFaults'].get(k))} | {'' if d is None else f'{d:+g}'} |"
        )
    return lines


def append_to_postmortem(state_dir: Path, text: str) -> Path | None:
    """Append the soak report to the run's newest postmortem (``postmortems/postmortem-<day>.md``)."""
    found = sorted((state_dir / "postmortems").glob("postmortem-*.md"))
    if not found:
        return None
    with found[-1].open("a") as f:
        f.write("\n\n" + text.replace("# Soak report", "## Soak report", 1))
    return found[-1]
