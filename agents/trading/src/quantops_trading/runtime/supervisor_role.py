"""The supervisor role's work: dashboard, heartbeat snapshots, alerts, starvation, tickets, reports.

Why it exists (roadmap 91–97, 100): the supervisor agent is where the platform watches itself. Its
data sources are the control plane's status view (``$QUANTOPS_CONTROL_URL``/api/status under
``quantops up``) and the audit stream ``$QUANTOPS_STATE_DIR/audit.jsonl``. Every ``pollSeconds`` it
reads both and turns changes into GO/NO_GO alerts (gate flips, telemetry starvation), incident
tickets (repeated restarts) and audit records of its own; every ``snapshotSeconds`` (5) it stores a
heartbeat snapshot; every ``auditReportSeconds`` it writes the audit diff to ``growth_supervisor``;
at the UTC day boundary it writes yesterday's postmortem. It serves the dashboard on
``dashboardHost:dashboardPort`` (127.0.0.1:free port by default) and reports the URL in /status.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from quantops_api.v1alpha1.roleconfig import SupervisorConfig
from quantops_trading.observability import auditdiff, dashboard, postmortem
from quantops_trading.observability.alerts import Alert, gate_alerts, router_from_config
from quantops_trading.observability.anomaly import StarvationDetector
from quantops_trading.observability.records import strategy_versions, timestamp
from quantops_trading.observability.snapshots import AuditTail, HeartbeatStore, condense
from quantops_trading.observability.tickets import Ticketer, failure_key
from quantops_trading.runtime.agent import AgentRuntime, IdleWork
from quantops_trading.runtime.roleconfig import alerts_dict, config_or_exit

__all__ = ["SupervisorWork"]


class SupervisorWork(IdleWork):
    def __init__(
        self,
        config: Mapping[str, Any] | SupervisorConfig,
        state_dir: Path | None = None,
        control_url: str | None = None,
    ) -> None:
        cfg = config_or_exit(SupervisorConfig, config)
        self.state_dir = state_dir or Path(os.environ.get("QUANTOPS_STATE_DIR", ".quantops"))
        self.control_url = control_url or os.environ.get("QUANTOPS_CONTROL_URL", "")
        self.host = cfg.dashboard_host
        self.port = cfg.dashboard_port
        self.poll_seconds = cfg.poll_seconds
        self.snapshot_seconds = cfg.snapshot_seconds
        self.report_seconds = cfg.audit_report_seconds
        self.router = router_from_config(alerts_dict(cfg.alerts), self.state_dir)
        self.detector = StarvationDetector(threshold=cfg.starvation_threshold)
        self.tickets = Ticketer(
            self.state_dir / "incidents",
            threshold=cfg.ticket_threshold,
            window_seconds=cfg.ticket_window_seconds,
        )
        self.heartbeats = HeartbeatStore(self.state_dir / "heartbeats.jsonl")
        self.audit = AuditTail(self.state_dir / "audit.jsonl")
        self.reporter = auditdiff.AuditReporter(self.state_dir / "audit-reports")
        self.status: dict[str, Any] | None = None
        self.traders: dict[str, dict[str, Any]] = {}  # trader agent → its last /status work view
        self.status_error: str | None = "not polled yet"
        self.url = ""
        self.name = "supervisor"
        self._heartbeat_seen: dict[str, str] = {}
        self._day = dt.datetime.now(dt.UTC).date()

    # -- views ------------------------------------------------------------------------------------
    def view(self) -> dict[str, Any]:
        return dashboard.build_view(
            status=self.status,
            status_error=self.status_error,
            records=self.audit.records,
            versions=strategy_versions(self.state_dir),
            alerts=list(self.router.recent),
            tickets=self.tickets.tickets(),
            starvation=self.detector.scores(time.time()),
            traders=self.traders,
        )

    def describe(self) -> dict[str, Any]:
        return {"dashboardUrl": self.url, "stateDir": str(self.state_dir), "controlUrl": self.control_url}

    def write_audit(self, event: str, **fields: Any) -> None:
        """Append one record to the shared audit stream in a single write (O_APPEND)."""
        rec = {"at": dt.datetime.now(dt.UTC).isoformat(), "event": event, "by": self.name, **fields}
        data = (json.dumps(rec, default=str) + "\n").encode()
        fd = os.open(self.state_dir / "audit.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    # -- loop -------------------------------------------------------------------------------------
    async def run(self, rt: AgentRuntime) -> None:
        self.name = rt.name
        self.state_dir.mkdir(parents=True, exist_ok=True)
        runner = web.AppRunner(dashboard.app(self.view, self.heartbeats.history), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        port = int(runner.addresses[0][1])
        self.url = f"http://{self.host}:{port}/"
        print(json.dumps({"event": "dashboard_listening", "agent": rt.name, "url": self.url}), flush=True)
        next_snap, next_report = 0.0, time.monotonic() + self.report_seconds
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
                while not rt.stopping.is_set():
                    await self.poll_once(session)
                    if time.monotonic() >= next_snap and self.status is not None:
                        self.heartbeats.append(condense(self.status))
                        next_snap = time.monotonic() + self.snapshot_seconds
                    if time.monotonic() >= next_report:
                        self.audit_report()
                        next_report = time.monotonic() + self.report_seconds
                    self.maybe_postmortem()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(rt.stopping.wait(), self.poll_seconds)
        finally:
            await runner.cleanup()

    async def poll_once(self, session: aiohttp.ClientSession) -> None:
        prev = self.status
        if self.control_url:
            try:
                async with session.get(f"{self.control_url}/api/status") as r:
                    r.raise_for_status()
                    self.status, self.status_error = await r.json(), None
            except (aiohttp.ClientError, TimeoutError) as e:
                self.status_error = f"{type(e).__name__}: {e}"
        else:
            self.status_error = "no control URL ($QUANTOPS_CONTROL_URL)"
        await self._poll_traders(session)
        if self.status is not None and self.status is not prev:
            for alert in gate_alerts(prev, self.status):
                await self.router.dispatch(alert)
            self._observe_heartbeats(self.status)
        await self._starvation()
        for rec in self.audit.poll():
            key = failure_key(rec)
            if key is None:
                continue
            agent = key.split(":")[0].removeprefix("agent/")
            status = next((a for a in (self.status or {}).get("agents", []) if a.get("name") == agent), None)
            ticket = self.tickets.failure(
                key, str(rec.get("reason", rec.get("event"))), self.audit.records, status
            )
            if ticket is not None:
                self.write_audit("IncidentOpened", ticket=ticket.id, key=key, title=ticket.title)
                await self.router.dispatch(
                    Alert(
                        state="NO_GO",
                        severity="critical",
                        scope=f"agent/{agent}",
                        title=f"incident {ticket.id}",
                        detail=ticket.title,
                    )
                )

    async def _poll_traders(self, session: aiohttp.ClientSession) -> None:
        """Each trader's own ``/status`` (positions, open orders, fills, statistics, venue health):
        the dashboard's trading panels. A trader that does not answer keeps its last view."""
        for a in (self.status or {}).get("agents", []):
            if a.get("role") != "trader" or not a.get("port"):
                continue
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                async with session.get(f"http://127.0.0.1:{a['port']}/status") as r:
                    r.raise_for_status()
                    body = await r.json()
                    self.traders[str(a["name"])] = dict(body.get("work") or {}) | {"polledAt": time.time()}

    def _observe_heartbeats(self, status: dict[str, Any]) -> None:
        for a in status.get("agents", []):
            hb = a.get("lastHeartbeat")
            if hb and hb != self._heartbeat_seen.get(a["name"]):
                self._heartbeat_seen[a["name"]] = hb
                self.detector.observe(f"agent/{a['name']}", timestamp({"at": hb}))

    async def _starvation(self) -> None:
        for tr in self.detector.check(time.time()):
            event = "StarvationDetected" if tr.state == "NO_GO" else "StarvationCleared"
            agent = tr.source.removeprefix("agent/")
            why = f"quiet {tr.silence:.1f}s vs normal gap {tr.normal_gap:.2f}s (score {tr.score})"
            self.write_audit(event, agent=agent, source=tr.source, score=tr.score, reason=why)
            await self.router.dispatch(
                Alert(
                    state="NO_GO" if tr.state == "NO_GO" else "GO",
                    severity="warning" if tr.state == "NO_GO" else "info",
                    scope=tr.source,
                    title="telemetry starvation" if tr.state == "NO_GO" else "telemetry back",
                    detail=why,
                )
            )

    def audit_report(self) -> auditdiff.Report:
        lines = auditdiff.snapshot(self.status or {}, self.audit.records, strategy_versions(self.state_dir))
        report = self.reporter.report(lines)
        self.write_audit(**report.audit_record())
        return report

    def maybe_postmortem(self, today: dt.date | None = None) -> dict[str, Path] | None:
        today = today or dt.datetime.now(dt.UTC).date()
        if today == self._day:
            return None
        day, self._day = self._day, today
        logs = sorted((self.state_dir / "eventlogs").glob("*.sqlite"))
        audit = [
            json.loads(x) for x in (self.state_dir / "audit.jsonl").read_text().splitlines() if x.strip()
        ]
        paths = postmortem.write(
            postmortem.collect(audit, postmortem.read_event_logs(logs), day), self.state_dir / "postmortems"
        )
        self.write_audit(
            "PostmortemWritten", day=day.isoformat(), html=str(paths["html"]), md=str(paths["md"])
        )
        return paths
