"""The supervisor role in-process against a fake control plane: dashboard JSON and history, gate
alerts, incident tickets from repeated restarts, heartbeat snapshots, audit report, postmortem."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiohttp import web

from quantops_trading.runtime.agent import AgentRuntime
from quantops_trading.runtime.control import LocalControl
from quantops_trading.runtime.roles import work_for
from quantops_trading.runtime.supervisor_role import SupervisorWork


def _status(gate: str) -> dict[str, Any]:
    return {
        "agents": [
            {
                "name": "trader",
                "role": "trader",
                "phase": "Running",
                "ready": True,
                "effectiveGate": gate,
                "gateSource": "RiskPolicy/global",
                "restarts": 0,
                "queueLength": 2,
                "openOrders": 0,
                "lastHeartbeat": dt.datetime.now(dt.UTC).isoformat(),
                "reason": "Ready",
                "message": "",
            }
        ],
        "gates": {"RiskPolicy/global": gate},
    }


async def test_supervisor_role_end_to_end_in_process(tmp_path: Path) -> None:
    state = {"status": _status("GO")}

    async def status(_: web.Request) -> web.Response:
        return web.json_response(state["status"])

    control = web.Application()
    control.add_routes([web.get("/api/status", status)])
    runner = web.AppRunner(control)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "mom.jsonl").write_text(
        json.dumps(
            {"version": 1, "fingerprint": "f" * 64, "spec": {"params": {"w": 3}, "desiredStage": "WARM"}}
        )
        + "\n"
    )
    audit = tmp_path / "audit.jsonl"
    audit.write_text(
        json.dumps({"at": "2024-01-01T00:00:00+00:00", "event": "PnlSnapshot", "strategy": "mom", "pnl": 5.0})
        + "\n"
        + json.dumps(
            {"at": "2024-01-01T00:01:00+00:00", "event": "PnlSnapshot", "strategy": "mom", "pnl": 2.0}
        )
        + "\n"
        + json.dumps(
            {
                "event": "RiskUtilisation",
                "utilisation": {"gross": 0.4},
                "heatmap": {
                    "strategies": ["mom"],
                    "pairs": ["BTC/USDT"],
                    "cells": {"mom": {"BTC/USDT": 0.3}},
                    "cap": 0.5,
                },
            }
        )
        + "\n"
    )
    work = SupervisorWork(
        {"pollSeconds": 0.05, "snapshotSeconds": 0.1, "auditReportSeconds": 0.2, "ticketThreshold": 2},
        state_dir=tmp_path,
        control_url=url,
    )
    rt = AgentRuntime(name="boss", role="supervisor", control=LocalControl(url, "boss", "r"), work=work)
    task = asyncio.create_task(work.run(rt))
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(100):
                if work.url and work.status is not None:
                    break
                await asyncio.sleep(0.05)
            assert work.describe()["dashboardUrl"].startswith("http://127.0.0.1:")
            page = (await client.get(work.url)).text
            assert (
                'id="gate-history"' in page
                and 'fetch("api/dashboard"' in page
                and "http" not in page.split("<script>")[1]
            ), "no external resources"
            view = (await client.get(work.url + "api/dashboard")).json()
            assert [a["name"] for a in view["agents"]] == ["trader"] and view["statusError"] is None
            assert view["strategies"][0]["name"] == "mom" and view["strategies"][0]["stage"] == "WARM"
            assert view["pnl"]["drawdown"][-1][1] == -3.0 and view["risk"]["heatmap"]["cap"] == 0.5
            # a gate flip → NO_GO alert routed to the default file channel and shown on the dashboard
            state["status"] = _status("STOP")
            with audit.open("a") as f:
                f.write(
                    json.dumps(
                        {
                            "event": "GateChanged",
                            "scope": "RiskPolicy/global",
                            "old": "GO",
                            "new": "STOP",
                            "reason": "drill",
                            "who": "cli",
                            "at": dt.datetime.now(dt.UTC).isoformat(),
                        }
                    )
                    + "\n"
                )
                for _ in range(2):
                    f.write(
                        json.dumps({"event": "AgentRestartScheduled", "agent": "trader", "reason": "exit 1"})
                        + "\n"
                    )
            for _ in range(100):
                view = (await client.get(work.url + "api/dashboard")).json()
                if len(view["alerts"]) >= 3 and view["tickets"] and view["gateHistory"]:
                    break
                await asyncio.sleep(0.05)
            assert {(a["state"], a["scope"]) for a in view["alerts"]} >= {("NO_GO", "RiskPolicy/global")}
            assert view["gateHistory"][0]["new"] == "STOP"
            assert view["tickets"][0]["key"] == "agent/trader:AgentRestartScheduled"
            assert (tmp_path / "alerts.jsonl").exists()
            await asyncio.sleep(0.3)
            hist = (await client.get(work.url + "api/history")).json()["snapshots"]
            assert len(hist) >= 2 and hist[-1]["agents"]["trader"]["gate"] == "STOP"
            assert (await client.get(work.url + "api/history?since=x")).status_code == 400
    finally:
        rt.stopping.set()
        await task
        await runner.cleanup()
    events = [json.loads(x)["event"] for x in audit.read_text().splitlines()]
    assert "IncidentOpened" in events and "AuditReportDiff" in events
    assert list((tmp_path / "audit-reports").glob("report-*.diff"))
    # the day boundary writes yesterday's postmortem
    work._day = dt.date(2024, 1, 1)
    paths = work.maybe_postmortem(dt.date(2024, 1, 2))
    assert paths is not None and "Postmortem 2024-01-01" in paths["html"].read_text()
    assert work.maybe_postmortem(dt.date(2024, 1, 2)) is None


def test_roles_give_the_supervisor_its_work() -> None:
    w = work_for("supervisor", {"dashboardPort": 0})
    assert isinstance(w, SupervisorWork) and w.port == 0


async def test_unreachable_control_plane_is_reported(tmp_path: Path) -> None:
    work = SupervisorWork({}, state_dir=tmp_path, control_url="http://127.0.0.1:9")
    async with aiohttp.ClientSession() as s:
        await work.poll_once(s)
    assert work.status is None and work.view()["statusError"]
