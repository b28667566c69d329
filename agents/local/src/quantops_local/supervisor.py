"""`quantops up`: the same manifests as on Kubernetes, run as local processes on one machine.

The supervisor plays the operator's part with the same pure decisions (quantops_api.orchestration):
start waves by dependsOn, restart with capped, jittered exponential backoff when a process exits or
its heartbeat goes stale, max-uptime recycle deferred by open orders, effective gates. It also
plays the API server's part for the agents: heartbeats and gate long-polls over HTTP on loopback.
Every gate change and automatic decision is appended to <state>/audit.jsonl with its reason.

The API is authenticated (quantops_local.auth): a run token in <state>/control.token (0600) for the
CLI, a token of its own per agent (in its environment), Host/Origin/Content-Type checked; ``who`` in
the audit is the credential's principal (``cli:<user>``, ``agent/<name>``), never the request body's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from quantops_api import Agent, Gate, RiskPolicy, Strategy
from quantops_api.meta import CustomResource
from quantops_api.orchestration import (
    backoff_delay,
    effective_gate,
    health_decision,
    heartbeat_stale,
    recycle_decision,
    startup_order,
)
from quantops_local import auth
from quantops_local import secrets as local_secrets
from quantops_local.strategy_status import StrategyStatusBook

GATE_KINDS = {"agent": "Agent", "strategy": "Strategy", "riskpolicy": "RiskPolicy", "global": "RiskPolicy"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file, then rename: a reader (the CLI, a test, an agent) never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Proc:
    agent: Agent
    port: int = 0
    process: asyncio.subprocess.Process | None = None
    started_at: dt.datetime | None = None
    last_heartbeat: dt.datetime | None = None
    queue_length: int = 0
    open_orders: int = 0
    healthy: bool = False
    restarts: int = 0
    backoff_until: dt.datetime | None = None
    healthy_since: dt.datetime | None = None
    ready: bool = False
    degraded: bool = False
    phase: str = "Pending"
    reason: str = "NotStarted"
    message: str = ""
    log_path: Path | None = None


@dataclass
class Supervisor:
    objects: list[CustomResource]
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    rng: random.Random = field(default_factory=random.Random)
    procs: dict[str, Proc] = field(default_factory=dict)
    gates: dict[str, Gate] = field(default_factory=dict)
    version: int = 0
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    speed: float | None = None  # `quantops up --speed`: replay factor for every venue-sim agent
    echo_json: bool = True  # print each of its audit records as a JSON line (`quantops up --json`)
    # Until its first heartbeat an agent may take this long (imports, loading market data on a busy
    # laptop) — the local twin of a startupProbe; after it, staleAfterSeconds applies as before.
    startup_grace_seconds: float = 30.0
    # this run's control token (quantops_local.auth): never logged, never in repr
    token: str = field(default_factory=auth.new_token, repr=False)

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.agents = {o.name: o for o in self.objects if isinstance(o, Agent)}
        self.strategies = {o.name: o for o in self.objects if isinstance(o, Strategy)}
        self.policies = {o.name: o for o in self.objects if isinstance(o, RiskPolicy)}
        self.waves = startup_order({n: a.spec.depends_on for n, a in self.agents.items()})
        scopes = (("Agent", self.agents), ("Strategy", self.strategies), ("RiskPolicy", self.policies))
        for kind, objs in scopes:
            for name, obj in objs.items():
                self.gates[f"{kind}/{name}"] = Gate(obj.spec.gate)
        self.procs = {n: Proc(a) for n, a in self.agents.items()}
        self._changed = asyncio.Condition()
        self._closing = False
        self.audit_path = self.state_dir / "audit.jsonl"
        self.strategy_status = StrategyStatusBook(self.strategies, self.policies, self.state_dir, self.audit)
        self.strategy_status.listeners.append(self._bump)  # a stage change wakes the gate long-polls
        self.guard = auth.Guard(self.token, {n: a.spec.role for n, a in self.agents.items()})
        local_secrets.prepare(self.state_dir, self.agents.values())

    # -- audit ------------------------------------------------------------------------------------
    def audit(self, kind: str, **fields: Any) -> None:
        rec = {"at": _now().isoformat(), "event": kind, **fields}
        with self.audit_path.open("a") as f:
            f.write(json.dumps(rec, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self.echo_json:
            print(json.dumps(rec, default=str), flush=True)

    # -- gates --------------------------------------------------------------------------------------
    async def _bump(self) -> None:
        async with self._changed:
            self.version += 1
            self._changed.notify_all()

    def gates_for(self, agent: str) -> dict[str, str]:
        a = self.agents[agent]
        keys = [f"Agent/{agent}", "RiskPolicy/global"] + [f"Strategy/{s}" for s in a.spec.strategies]
        for s in a.spec.strategies:
            ref = self.strategies[s].spec.risk_policy_ref if s in self.strategies else None
            if ref:
                keys.append(f"RiskPolicy/{ref}")
        return {k: self.gates[k].value for k in keys if k in self.gates}

    def strategy_scopes(self, agent: str) -> dict[str, list[str]]:
        """Per strategy of the agent, the gate scopes that apply to it alone (its own and its policy's)."""
        out: dict[str, list[str]] = {}
        for s in self.agents[agent].spec.strategies:
            keys = [f"Strategy/{s}"]
            ref = self.strategies[s].spec.risk_policy_ref if s in self.strategies else None
            if ref and ref != "global":
                keys.append(f"RiskPolicy/{ref}")
            out[s] = [k for k in keys if k in self.gates]
        return out

    def effective_for(self, agent: str) -> tuple[Gate, str]:
        view = effective_gate(dict(self.gates_for(agent)))
        return view.gate, view.source

    async def set_gate(
        self, scope: str, gate: str, reason: str, who: str, unverified_who: str | None = None
    ) -> dict[str, Any]:
        """``who``: the authenticated principal; ``unverified_who``: what the caller said it was
        (free text, recorded apart when it differs, never as the principal)."""
        kind_key, _, name = scope.partition("/")
        kind = GATE_KINDS.get(kind_key.lower())
        if kind is None:
            raise ValueError(
                f"scope: unknown scope {scope!r}; use global, agent/NAME, strategy/NAME, riskpolicy/NAME"
            )
        name = "global" if kind_key.lower() == "global" else name
        key = f"{kind}/{name}"
        if key not in self.gates:
            raise ValueError(f"scope: {key} does not exist")
        try:
            new = Gate(gate.upper())
        except ValueError as e:
            raise ValueError(f"gate: {gate!r} is not one of STOP, PAUSE, CHECK, GO") from e
        old = self.gates[key]
        if old != new:
            self.gates[key] = new
            extra = {"unverifiedWho": unverified_who} if unverified_who not in (None, who) else {}
            self.audit(
                "GateChanged", scope=key, old=old.value, new=new.value, reason=reason, who=who, **extra
            )
            async with self._changed:
                self.version += 1
                self._changed.notify_all()
        return {"scope": key, "old": old.value, "new": new.value, "who": who}

    # -- HTTP API for agents and the CLI -------------------------------------------------------------
    def app(self) -> web.Application:
        # Who may call which route, and the Host/Origin/Content-Type checks: auth.Guard (auth.ACCESS).
        # A heartbeat or release is the credential's own agent's (the guard refuses another's).
        async def heartbeat(req: web.Request) -> web.Response:
            body = await req.json()
            if not isinstance(body, dict):
                return web.json_response({"error": "body: must be an object"}, status=400)
            p = self.procs.get(auth.principal_of(req).agent or "")
            if p is None:
                return web.json_response({"error": "unknown agent"}, status=404)
            p.last_heartbeat, p.queue_length = _now(), int(body.get("queueLength", 0))
            p.open_orders, p.healthy = int(body.get("openOrders", 0)), bool(body.get("healthy", True))
            return web.json_response({"ok": True})

        async def release(req: web.Request) -> web.Response:
            body = await req.json()
            principal = auth.principal_of(req)
            replica = body.get("replica") if isinstance(body, dict) else None
            self.audit("LeaseReleased", agent=principal.agent, replica=replica, who=principal.name)
            return web.json_response({"ok": True})

        async def gates(req: web.Request) -> web.Response:
            agent = req.query.get("agent", "")
            if agent not in self.agents:
                return web.json_response({"error": f"unknown agent {agent!r}"}, status=404)
            since = req.query.get("since", "")
            try:  # the agent's freshness proof: an answer at least this often, news or not
                wait = min(25.0, max(0.5, float(req.query.get("wait", "25"))))
            except ValueError:
                return web.json_response({"error": "wait: not a number of seconds"}, status=400)
            if since == str(self.version) and not self._closing:
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), wait)
            stages = self.strategy_status.stages_for(list(self.agents[agent].spec.strategies))
            body = {
                "version": self.version,
                "gates": self.gates_for(agent),
                "stages": stages,
                "strategyScopes": self.strategy_scopes(agent),
            }
            return web.json_response(body)

        async def set_gate(req: web.Request) -> web.Response:
            try:
                body = await req.json()
            except ValueError:
                return web.json_response({"error": "body: not JSON"}, status=400)
            if not isinstance(body, dict):
                return web.json_response({"error": "body: must be an object"}, status=400)
            try:
                out = await self.set_gate(
                    str(body.get("scope", "")),
                    str(body.get("gate", "")),
                    str(body.get("reason", "quantops gate")),
                    auth.principal_of(req).name,
                    str(body["who"]) if body.get("who") is not None else None,
                )
            except ValueError as e:
                return web.json_response({"error": str(e)}, status=400)
            return web.json_response(out)

        async def status(_: web.Request) -> web.Response:
            return web.json_response(self.status())

        app = web.Application(middlewares=[self.guard.middleware])
        app.add_routes(
            [
                web.post("/api/heartbeat", heartbeat),
                web.post("/api/release", release),
                web.get("/api/gates", gates),
                web.post("/api/gate", set_gate),
                web.get("/api/status", status),
            ]
        )
        app.add_routes(self.strategy_status.routes())  # the pipeline's Strategy status writes

        async def release_long_polls(_: web.Application) -> None:
            # aiohttp waits for running handlers on shutdown: answer the gate long-polls now
            # instead of holding the stop for up to their 25 s wait.
            self._closing = True
            async with self._changed:
                self._changed.notify_all()

        app.on_shutdown.append(release_long_polls)
        return app

    def status(self) -> dict[str, Any]:
        agents = []
        for name, p in self.procs.items():
            gate, source = self.effective_for(name)
            agents.append(
                {
                    "name": name,
                    "role": p.agent.spec.role,
                    "phase": p.phase,
                    "ready": p.ready,
                    "degraded": p.degraded,
                    "reason": p.reason,
                    "message": p.message,
                    "restarts": p.restarts,
                    "port": p.port,
                    "pid": p.process.pid if p.process else None,
                    "effectiveGate": gate.value,
                    "gateSource": source,
                    "lastHeartbeat": p.last_heartbeat.isoformat() if p.last_heartbeat else None,
                    "queueLength": p.queue_length,
                    "openOrders": p.open_orders,
                    "dependsOn": p.agent.spec.depends_on,
                    "backoffUntil": p.backoff_until.isoformat() if p.backoff_until else None,
                }
            )
        return {
            "agents": agents,
            "gates": {k: v.value for k, v in self.gates.items()},
            "waves": self.waves,
            "version": self.version,
            "strategies": self.strategy_status.view(),
        }

    # -- processes ------------------------------------------------------------------------------------
    async def start_agent(self, p: Proc, why: str) -> None:
        p.port = _free_port()
        cfg_path = self.state_dir / f"{p.agent.name}.config.json"
        _write_atomic(
            cfg_path,
            json.dumps(
                {
                    "agent": p.agent.name,
                    "role": p.agent.spec.role,
                    "strategies": p.agent.spec.strategies,
                    "heartbeatSeconds": p.agent.spec.heartbeat_seconds,
                    "apiLossGraceSeconds": p.agent.spec.api_loss_grace_seconds,
                    "config": self.agent_config(p.agent),
                    **self.trading_specs(p.agent),
                }
            ),
        )
        p.log_path = self.state_dir / "logs" / f"{p.agent.name}.log"
        p.log_path.parent.mkdir(exist_ok=True)
        log = p.log_path.open("ab")
        # credentials go in the environment only (never argv, a config file or a log line)
        env = {k: v for k, v in os.environ.items() if k not in (auth.TOKEN_ENV, auth.SIM_TOKEN_ENV)}
        env.update(
            {
                "QUANTOPS_CONTROL_URL": f"http://{self.host}:{self.port}",
                "QUANTOPS_STATE_DIR": str(self.state_dir),
                "QUANTOPS_LOG_DIR": str(p.log_path.parent),  # the agent rotates its own file (7)
                auth.TOKEN_ENV: auth.agent_token(self.token, p.agent.name),
            }
        )
        env.update(local_secrets.agent_env(self.state_dir, p.agent))
        if p.agent.spec.role == "venue-sim":
            env[auth.SIM_TOKEN_ENV] = auth.sim_token(self.token, p.agent.name)
        p.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "quantops_trading.runtime",
            "--role",
            p.agent.spec.role,
            "--agent",
            p.agent.name,
            "--host",
            "127.0.0.1",
            "--port",
            str(p.port),
            "--config",
            str(cfg_path),
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        p.started_at, p.last_heartbeat, p.phase, p.ready = _now(), None, "Starting", False
        self.audit("AgentStarted", agent=p.agent.name, pid=p.process.pid, port=p.port, reason=why)

    def agent_config(self, agent: Agent) -> dict[str, Any]:
        """spec.config, with ``--speed`` applied to a venue simulator's replay clock."""
        config = dict(agent.spec.config)
        venue = config.get("venue")
        if self.speed is not None and agent.spec.role == "venue-sim" and isinstance(venue, dict):
            config["venue"] = {**venue, "speed": self.speed}
        return config

    def trading_specs(self, agent: Agent) -> dict[str, Any]:
        """What a trader needs from the manifests: its Strategy specs, the RiskPolicies they use
        (plus ``global``) and the venue-sim agents (their URLs are discovered at runtime)."""
        specs = {s: self.strategies[s].spec for s in agent.spec.strategies if s in self.strategies}
        refs = {"global"} | {sp.risk_policy_ref for sp in specs.values() if sp.risk_policy_ref}
        return {
            "strategySpecs": {n: sp.model_dump(mode="json", by_alias=True) for n, sp in specs.items()},
            "riskPolicies": {
                n: self.policies[n].spec.model_dump(mode="json", by_alias=True)
                for n in sorted(refs)
                if n in self.policies
            },
            "venues": {n: None for n, a in self.agents.items() if a.spec.role == "venue-sim"},
        }

    async def stop_agent(self, p: Proc, why: str) -> None:
        if p.process is None or p.process.returncode is not None:
            return
        grace = p.agent.spec.shutdown.termination_grace_seconds
        self.audit("AgentStopping", agent=p.agent.name, reason=why)
        with contextlib.suppress(ProcessLookupError):
            p.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(p.process.wait(), grace)
        except TimeoutError:
            self.audit("AgentKilled", agent=p.agent.name, reason=f"no exit within {grace}s grace")
            with contextlib.suppress(ProcessLookupError):
                p.process.kill()
            await p.process.wait()

    def deps_ready(self, p: Proc) -> bool:
        return all(self.procs[d].ready for d in p.agent.spec.depends_on)

    async def tick(self) -> None:
        """One level-triggered pass over every agent (the local twin of the operator's reconcile)."""
        now = _now()
        for name in [n for wave in self.waves for n in wave]:
            p, spec = self.procs[name], self.agents[name].spec
            if p.process is None:
                if self.deps_ready(p) and (p.backoff_until is None or now >= p.backoff_until):
                    await self.start_agent(p, "dependencies ready" if spec.depends_on else "no dependencies")
                elif not self.deps_ready(p):
                    p.phase, p.reason = "Waiting", "WaitingForDependencies"
                    p.message = "waiting for Ready: " + ", ".join(
                        d for d in spec.depends_on if not self.procs[d].ready
                    )
                continue
            exited = p.process.returncode is not None
            since = p.started_at or now
            limit = spec.backoff.stale_after_seconds
            if p.last_heartbeat is None:
                limit = max(limit, self.startup_grace_seconds)
            grace_over = (now - since).total_seconds() > limit
            stale = heartbeat_stale(p.last_heartbeat, now, spec.backoff.stale_after_seconds)
            if exited or (stale and grace_over):
                why = (
                    f"exited with {p.process.returncode}"
                    if exited
                    else f"heartbeat stale since {p.last_heartbeat}"
                )
                await self.stop_agent(p, why)
                p.restarts += 1
                delay = backoff_delay(spec.backoff, p.restarts, self.rng)
                p.backoff_until = now + dt.timedelta(seconds=delay)
                p.process, p.ready, p.degraded, p.phase = None, False, True, "BackingOff"
                p.reason, p.message = "Restarting", f"{why}; restart #{p.restarts} in {delay:.1f}s"
                self.audit(
                    "AgentRestartScheduled",
                    agent=name,
                    restarts=p.restarts,
                    delay=round(delay, 3),
                    reason=why,
                )
                continue
            rec = recycle_decision(spec.recycle, p.started_at, now, p.open_orders)
            if rec.recycle:
                await self.stop_agent(p, rec.message)
                p.process, p.ready, p.phase, p.reason, p.message = (
                    None,
                    False,
                    "Recycling",
                    rec.reason,
                    rec.message,
                )
                self.audit("AgentRecycled", agent=name, reason=rec.message)
                continue
            if p.last_heartbeat is None:
                p.phase, p.reason, p.message = "Starting", "Starting", "waiting for the first heartbeat"
                continue
            gate, _ = self.effective_for(name)
            h = health_decision(
                healthy_now=not stale and p.healthy,
                was_degraded=p.degraded,
                healthy_since=p.healthy_since,
                hold_seconds=spec.recovery_hold_seconds,
                gate=gate,
                now=now,
            )
            if p.degraded and h.ready:
                self.audit("AgentRecovered", agent=name, reason=h.message)
            p.ready, p.degraded, p.healthy_since = h.ready, h.degraded, h.healthy_since
            p.phase = "Running" if h.ready else "Degraded"
            p.reason, p.message = h.reason, rec.message if rec.reason == "RecycleDeferred" else h.message

    async def run(self, duration: float | None = None, tick_seconds: float = 0.5) -> None:
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = int(runner.addresses[0][1])
        auth.write_token_file(self.state_dir, self.token)  # before supervisor.json: the CLI needs both
        _write_atomic(
            self.state_dir / "supervisor.json",
            json.dumps({"url": f"http://{self.host}:{self.port}", "pid": os.getpid()}),
        )
        self.audit("SupervisorStarted", url=f"http://{self.host}:{self.port}", waves=self.waves)
        deadline = time.monotonic() + duration if duration else None
        try:
            while not self.stopping.is_set():
                await self.tick()
                if deadline is not None and time.monotonic() >= deadline:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), tick_seconds)
        finally:
            for wave in reversed(self.waves):  # stop in reverse dependency order
                await asyncio.gather(*(self.stop_agent(self.procs[n], "supervisor stopping") for n in wave))
            self.audit("SupervisorStopped")
            await runner.cleanup()
