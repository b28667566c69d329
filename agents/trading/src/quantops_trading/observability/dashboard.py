"""The single-pane status dashboard served by the supervisor role (roadmap 91).

Why it exists: during an incident people need agents and their conditions, gates and how they
changed, strategy stages, risk utilisation with the concentration heatmap, PnL/drawdown and recent
alerts on *one* page that keeps itself current. :func:`build_view` is a pure function from the
sources (the local supervisor's /api/status, audit records, strategy spec history, the alert
router's recent alerts, open tickets, starvation scores) to one JSON document; :func:`app` serves
it at ``/api/dashboard``, the heartbeat history at ``/api/history`` and a static page (HTML + JS
with uPlot vendored under ``static/uplot`` and served here: no CDN, the machines have no internet)
that polls the JSON every second and redraws in place, so a gate flip shows up without a reload.
The trading panels (positions, open orders, last fills with fees and slippage, per-strategy
statistics, venue health and submit→ack latency) come from each trader's own ``/status``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from quantops_trading.observability.dashboard_page import PAGE
from quantops_trading.observability.records import (
    budgets,
    drawdown,
    gate_changes,
    kind_of,
    pnl_series,
    stage_transitions,
)

__all__ = ["app", "build_view"]

STATIC_DIR = Path(__file__).parent / "static" / "uplot"  # uPlot, vendored by hack/vendor-uplot.sh
STATIC = frozenset({"uPlot.iife.min.js", "uPlot.min.css"})


def build_view(
    *,
    status: dict[str, Any] | None,
    status_error: str | None,
    records: list[dict[str, Any]],
    versions: dict[str, list[dict[str, Any]]],
    alerts: list[dict[str, Any]],
    tickets: list[dict[str, Any]],
    starvation: dict[str, float],
    traders: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    status = status or {}
    transitions = stage_transitions(records)
    current: dict[str, str] = {str(t["strategy"]): str(t["new"]) for t in transitions}
    strategies = []
    names = sorted(set(versions) | set(current))
    for name in names:
        rows = versions.get(name) or [{}]
        spec = rows[-1].get("spec", {})
        desired = spec.get("desiredStage", "COLD")
        strategies.append(
            {
                "name": name,
                "stage": current.get(name, desired),
                "desiredStage": desired,
                "version": rows[-1].get("version"),
                "fingerprint": str(rows[-1].get("fingerprint", ""))[:12],
                "gate": (status.get("gates") or {}).get(f"Strategy/{name}", spec.get("gate", "GO")),
                "params": spec.get("params", {}),
            }
        )
    util: dict[str, Any] = next((r for r in reversed(records) if kind_of(r) == "RiskUtilisation"), {})
    series = pnl_series(records)
    total = series.get("total", [])
    dd = drawdown([v for _, v in total])
    return {
        "generatedAt": time.time(),
        "statusError": status_error,
        "agents": status.get("agents", []),
        "gates": status.get("gates", {}),
        "gateHistory": list(reversed(gate_changes(records)[-50:])),
        "strategies": strategies,
        "stageTransitions": list(reversed(transitions[-50:])),
        "risk": {
            "utilisation": util.get("utilisation", {}),
            "heatmap": util.get("heatmap"),
            "budgets": budgets(records),
        },
        "pnl": {
            "series": {k: [[t, v] for t, v in pts[-500:]] for k, pts in series.items()},
            "drawdown": [[t, v] for (t, _), v in zip(total[-500:], dd[-500:], strict=True)],
        },
        "trading": {name: _trading(work) for name, work in sorted((traders or {}).items())},
        "alerts": list(reversed(alerts[-30:])),
        "tickets": [t for t in tickets if t.get("status") == "open"][-20:],
        "starvation": starvation,
        "incidents": [
            r
            for r in records[-400:]
            if kind_of(r) in ("AgentRestartScheduled", "AgentKilled", "AgentRecycled", "AgentRecovered")
        ][-20:][::-1],
    }


def _trading(work: dict[str, Any]) -> dict[str, Any]:
    """One trader's panels: positions (booked, base units), open orders, its last fills with fees
    and slippage, per-strategy statistics, venue health with submit→ack latency, the freshness of
    each pair's book (refused with its reason), order counts."""
    positions = []
    for key, qty in sorted((work.get("positions") or {}).items()):
        strategy, _, pair = str(key).partition("|")
        positions.append({"strategy": strategy, "pair": pair, "quantity": qty})
    return {
        "state": work.get("state"),
        "venue": work.get("venueAgent") or work.get("venueUrl"),
        "positions": positions,
        "books": work.get("books") or {},
        "openOrders": work.get("openOrders") or [],
        "recentFills": (work.get("recentFills") or [])[:20],
        "stats": work.get("stats") or {},
        "health": work.get("health") or {},
        "orders": work.get("orders") or {},
        "killSwitches": work.get("killSwitches") or {},
        "polledAt": work.get("polledAt"),
    }


def app(
    view: Callable[[], dict[str, Any]], history: Callable[[float | None, int], list[dict[str, Any]]]
) -> web.Application:
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def data(_: web.Request) -> web.Response:
        return web.json_response(view(), headers={"Cache-Control": "no-store"})

    async def hist(req: web.Request) -> web.Response:
        try:
            since = float(req.query["since"]) if "since" in req.query else None
            limit = int(req.query.get("limit", "720"))
        except ValueError:
            return web.json_response({"error": "since and limit must be numbers"}, status=400)
        return web.json_response({"snapshots": history(since, max(1, min(limit, 20000)))})

    async def static(req: web.Request) -> web.Response:
        name = req.match_info["name"]
        if name not in STATIC:  # only the vendored chart library, nothing else from disk
            raise web.HTTPNotFound()
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        body = (STATIC_DIR / name).read_bytes()
        return web.Response(body=body, content_type=kind, headers={"Cache-Control": "max-age=3600"})

    a = web.Application()
    a.add_routes([web.get("/", page), web.get("/api/dashboard", data), web.get("/api/history", hist)])
    a.add_routes([web.get("/static/{name}", static)])
    return a
