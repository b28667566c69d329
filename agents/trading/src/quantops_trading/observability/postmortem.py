"""End-of-day postmortem: HTML + Markdown with PNG charts, from the audit log and event logs.

Why it exists (roadmap 100): after each trading day someone has to answer "what did the system
decide, what went wrong, what changed, and where did the money come from" without grepping logs.
:func:`collect` filters one UTC day out of the supervisor's ``audit.jsonl`` records and the
strategies' event-log payloads (hash-chained, read-only here) into decisions (submitted/filled vs
denied), incidents, gate changes, stage transitions and PnL attribution per strategy (the fills
booked as the trader books them, ``risk.book.RiskBook`` — a fee in the base asset moves the
position — marked to the last fill price of each instrument); :func:`write` renders it
with matplotlib charts from :mod:`plots` (cumulative PnL per strategy, drawdown, decisions per
hour, gate changes, attribution). Canary orders (strategy ``canary``, client ids ``canary…``;
roadmap 98) are synthetic: they never count as decisions or PnL; the canary's own audit records
(``CanaryPassed``/``CanaryFailed``) get a section of their own. :func:`write_for_state` reads a
``quantops up`` state directory (``audit.jsonl``, ``eventlogs/*.sqlite``).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from quantops_trading.execution.types import Side
from quantops_trading.observability.records import (
    drawdown,
    gate_changes,
    kind_of,
    stage_transitions,
    timestamp,
)
from quantops_trading.observability.snapshots import read_jsonl
from quantops_trading.risk.book import RiskBook
from quantops_trading.storage.eventlog import EventLog

__all__ = ["Day", "collect", "read_event_logs", "write", "write_for_state"]

OK_KINDS = ("order_submitted", "order_filled", "risk_would_be_order")
FAILED_KINDS = ("order_denied",)
INCIDENT_EVENTS = (
    "AgentRestartScheduled",
    "AgentKilled",
    "StarvationDetected",
    "IncidentOpened",
    "CanaryFailed",
)
CANARY_EVENTS = ("CanaryPassed", "CanaryFailed")
DENIAL_GAP_S = 60.0  # denials of one cause further apart than this are separate episodes


@dataclass
class Day:
    day: dt.date
    decisions_ok: list[dict[str, Any]] = field(default_factory=list)
    decisions_failed: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    pnl_by_strategy: dict[str, float] = field(default_factory=dict)
    pnl_curve: list[tuple[float, float]] = field(default_factory=list)
    pnl_curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    canary: list[dict[str, Any]] = field(default_factory=list)


def read_event_logs(paths: Iterable[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in paths:
        with EventLog(p) as log:
            out += [e.data() for e in log.entries()]
    return out


def _in_day(rec: dict[str, Any], day: dt.date) -> bool:
    return dt.datetime.fromtimestamp(timestamp(rec), dt.UTC).date() == day


def _once(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event once: the trader writes a decision to audit.jsonl, risk.sqlite and the event
    log of every strategy it concerns, all with the same ``event_id``."""
    seen: set[str] = set()
    out = []
    for r in records:
        eid = r.get("event_id")
        if eid is not None:
            if eid in seen:
                continue
            seen.add(str(eid))
        out.append(r)
    return out


def collect(audit: list[dict[str, Any]], events: list[dict[str, Any]], day: dt.date) -> Day:
    recs = sorted(_once(r for r in [*audit, *events] if _in_day(r, day)), key=timestamp)
    d = Day(day)
    owner: dict[str, str] = {}
    book = RiskBook()  # the trader's own accounting: a fee in the base asset moves the position
    for r in recs:
        k = kind_of(r)
        if k in CANARY_EVENTS:
            d.canary.append(r)
        if _is_canary(r):
            continue
        if k in OK_KINDS:
            d.decisions_ok.append(r)
        elif k in FAILED_KINDS:
            d.decisions_failed.append(r)
        if kind_of(r) in INCIDENT_EVENTS:
            d.incidents.append(r)
        if k == "order_submitted":
            order = r.get("order") or {}
            owner[str(order.get("client_order_id"))] = str(order.get("strategy_id"))
        elif k == "order_filled":
            f = r.get("fill") or {}
            s = owner.get(str(f.get("client_order_id")), "unattributed")
            inst, qty, px = str(f.get("instrument_id")), Decimal(str(f["quantity"])), Decimal(str(f["price"]))
            fee = Decimal(str(f.get("fee", "0")))
            book.note_fill(
                s,
                inst,
                Side(str(f.get("side"))),
                qty,
                px,
                fee,
                timestamp(r),
                str(f.get("fee_currency") or ""),
            )
            book.marks[inst] = px
            d.pnl_by_strategy = {
                name: round(float(book.pnl(name)), 6) for name in sorted({n for n, _ in book.holdings})
            }
            d.pnl_curve.append((timestamp(r), sum(d.pnl_by_strategy.values())))
            for name, v in d.pnl_by_strategy.items():
                d.pnl_curves.setdefault(name, []).append((timestamp(r), v))
    d.gates = gate_changes(recs)
    d.stages = stage_transitions(recs)
    return d


def _is_canary(r: dict[str, Any]) -> bool:
    """A synthetic canary order or fill (roadmap 98): not a strategy's decision or PnL."""
    order, fill = r.get("order") or {}, r.get("fill") or {}
    sid = order.get("strategy_id") or r.get("strategy_id")
    coid = str(order.get("client_order_id") or fill.get("client_order_id") or "")
    return sid == "canary" or coid.startswith("canary")


def _per_hour(recs: list[dict[str, Any]]) -> list[float]:
    counts = [0.0] * 24
    for r in recs:
        counts[dt.datetime.fromtimestamp(timestamp(r), dt.UTC).hour] += 1
    return counts


def write(d: Day, out_dir: Path) -> dict[str, Path]:
    """Write ``postmortem-<day>.{html,md}`` and its PNGs into ``out_dir``; returns the paths."""
    from quantops_trading.observability import plots  # matplotlib: ~1 s to import, only needed here

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"postmortem-{d.day.isoformat()}"
    curve = [v for _, v in d.pnl_curve]
    ok_h, bad_h = _per_hour(d.decisions_ok), _per_hour(d.decisions_failed)
    total = {"total": d.pnl_curve} if len(d.pnl_curves) > 1 else {}
    charts = {
        "pnl": plots.series_chart("Cumulative PnL", {**d.pnl_curves, **total}, "PnL (quote)"),
        "drawdown": plots.series_chart(
            "Drawdown from the running peak",
            {"drawdown": list(zip([t for t, _ in d.pnl_curve], drawdown(curve), strict=True))},
            "drawdown (quote)",
            fill=True,
        ),
        "decisions": plots.decisions_chart([int(x) for x in ok_h], [int(x) for x in bad_h]),
        "gates": plots.gates_chart(d.gates),
        "attribution": plots.attribution_chart(d.pnl_by_strategy),
    }
    paths: dict[str, Path] = {}
    for name, png in charts.items():
        paths[name] = out_dir / f"{stem}-{name}.png"
        paths[name].write_bytes(png)
    captions = {
        "pnl": "Cumulative PnL per strategy (marked to the last fill price)",
        "drawdown": "Drawdown of the total PnL from its running peak",
        "decisions": "Decisions per UTC hour: successful (green) and failed (red)",
        "gates": "Gate changes: one row per scope, marker coloured by the new gate",
        "attribution": "PnL attribution by strategy",
    }
    sections = _sections(d)
    md = [f"# Postmortem {d.day.isoformat()}", ""]
    body = [f"<h1>Postmortem {d.day.isoformat()}</h1>"]
    for title, rows in sections:
        md += [f"## {title}", ""] + ([f"- {r}" for r in rows] or ["- none"]) + [""]
        items = "".join(f"<li>{html.escape(r)}</li>" for r in rows) or "<li>none</li>"
        body.append(f"<h2>{html.escape(title)}</h2><ul>{items}</ul>")
    md += ["## Charts", ""]
    body.append("<h2>Charts</h2>")
    for name, cap in captions.items():
        md += [f"![{cap}]({paths[name].name})", "", f"*{cap}*", ""]
        body.append(
            f'<figure><img src="{paths[name].name}" alt="{html.escape(cap)}">'
            f"<figcaption>{html.escape(cap)}</figcaption></figure>"
        )
    paths["md"] = out_dir / f"{stem}.md"
    paths["md"].write_text("\n".join(md))
    paths["html"] = out_dir / f"{stem}.html"
    paths["html"].write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>Postmortem {d.day}</title>"
        "<style>body{font-family:sans-serif;max-width:900px;margin:auto}</style></head><body>"
        + "".join(body)
        + "</body></html>"
    )
    return paths


def _t(rec: dict[str, Any] | float) -> str:
    at = rec if isinstance(rec, float) else timestamp(rec)
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%H:%M:%S")


def _sections(d: Day) -> list[tuple[str, list[str]]]:
    total = sum(d.pnl_by_strategy.values())
    summary = [
        f"decisions: {len(d.decisions_ok)} successful, {len(d.decisions_failed)} failed",
        f"incidents: {len(d.incidents)}; gate changes: {len(d.gates)}; stage transitions: {len(d.stages)}",
        f"PnL: {total:+.2f}; max drawdown: {min(drawdown([v for _, v in d.pnl_curve]) or [0.0]):.2f}",
    ]
    failed = [
        f"{_t(rs[0])} {sid} denied by {rule}: {rs[0].get('reason')}"
        + (f" (×{len(rs)} until {_t(rs[-1])})" if len(rs) > 1 else "")
        for sid, rule, rs in _denial_runs(d.decisions_failed)
    ]
    ok = [f"{_t(r)} {kind_of(r)} {_decision(r)}" for r in d.decisions_ok]
    incidents = [
        f"{_t(r)} {kind_of(r)} {r.get('agent', r.get('source', ''))}: {r.get('reason', '')}"
        for r in d.incidents
    ]
    gates = [
        f"{_t(g['at'])} {g['scope']}: {g['old']} → {g['new']} ({g['reason']}, by {g['who']})" for g in d.gates
    ]
    stages = [f"{_t(s['at'])} {s['strategy']}: {s['old']} → {s['new']} ({s['reason']})" for s in d.stages]
    attribution = [f"{s}: {v:+.2f}" for s, v in d.pnl_by_strategy.items()]
    passed = sum(1 for r in d.canary if kind_of(r) == "CanaryPassed")
    canary = [f"{passed} passed, {len(d.canary) - passed} failed"] + [
        f"{_t(r)} failed at {r.get('hop')}: {r.get('reason')} (gate: {r.get('gate')})"
        for r in d.canary
        if kind_of(r) == "CanaryFailed"
    ]
    return [
        ("Summary", summary),
        ("Failed decisions", failed),
        ("Successful decisions", ok),
        ("Incidents", incidents),
        ("Gate changes", gates),
        ("Promotions and demotions", stages),
        ("PnL attribution", attribution),
        ("Canary (synthetic trades, not in PnL)", canary),
    ]


def _denial_runs(denials: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """Denials grouped by cause — strategy, rule and reason with its numbers blanked (an exposure
    figure changes every tick, the cause does not) — and by time: a gap over ``DENIAL_GAP_S``
    starts a new run, so two separate STOPs are two lines, each with its count and span."""
    runs: list[tuple[str, str, list[dict[str, Any]]]] = []
    open_: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in denials:
        sid, rule = str((r.get("order") or {}).get("strategy_id", "?")), str(r.get("rule"))
        key = (sid, rule, re.sub(r"[-+]?\d[\d.,:eE+-]*", "#", str(r.get("reason"))))
        run = open_.get(key)
        if run is None or timestamp(r) - timestamp(run[-1]) > DENIAL_GAP_S:
            run = open_[key] = []
            runs.append((sid, rule, run))
        run.append(r)
    return runs


def _decision(r: dict[str, Any]) -> str:
    if "fill" in r:
        f = r["fill"]
        return f"{f.get('side')} {f.get('quantity')} {f.get('instrument_id')} @ {f.get('price')}"
    o = r.get("order") or r
    inst = o.get("instrument_id", o.get("symbol", ""))
    return f"{o.get('strategy_id', '')} {o.get('side', '')} {o.get('quantity', '')} {inst}"


def write_for_state(state_dir: Path, day: dt.date) -> dict[str, Path]:
    """The postmortem of ``day`` from a state directory, into ``<state>/postmortems``."""
    audit = read_jsonl(state_dir / "audit.jsonl")
    events = read_event_logs(sorted((state_dir / "eventlogs").glob("*.sqlite")))
    return write(collect(audit, events, day), state_dir / "postmortems")
