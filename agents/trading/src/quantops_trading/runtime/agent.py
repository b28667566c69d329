"""AgentRuntime: the loop shared by every agent role (heartbeats, gates, health, graceful stop).

Shutdown order on SIGTERM (roadmap 20): stop taking new work → cancel working orders → flush the
event log → release the heartbeat Lease → stop serving. Each step is logged as a JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from quantops_api import Gate
from quantops_trading.runtime.control import Beat, Control, ControlUnavailable, GateSnapshot
from quantops_trading.runtime.gatestate import GateState
from quantops_trading.runtime.health import build_app, serve

log = logging.getLogger("quantops.runtime")


class RoleWork(Protocol):
    """What a role does; the runtime owns everything around it."""

    async def run(self, rt: AgentRuntime) -> None: ...
    def queue_length(self) -> int: ...
    def open_orders(self) -> int: ...
    async def cancel_working_orders(self) -> int: ...
    async def flush(self) -> None: ...
    def describe(self) -> dict[str, Any]: ...


class IdleWork:
    """A role with no work of its own yet: heartbeats, gates and health only."""

    async def run(self, rt: AgentRuntime) -> None:
        await rt.stopping.wait()

    def queue_length(self) -> int:
        return 0

    def open_orders(self) -> int:
        return 0

    async def cancel_working_orders(self) -> int:
        return 0

    async def flush(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        """Role-specific facts for /status (e.g. the venue URL)."""
        return {}


class AgentRuntime:
    def __init__(
        self,
        *,
        name: str,
        role: str,
        control: Control,
        work: RoleWork | None = None,
        heartbeat_seconds: float = 5.0,
        api_loss_grace_seconds: float = 15.0,
        host: str = "127.0.0.1",
        port: int = 8080,
    ) -> None:
        self.name, self.role, self.control = name, role, control
        self.work: RoleWork = work or IdleWork()
        self.heartbeat_seconds, self.host, self.port = heartbeat_seconds, host, port
        self.gates = GateState(grace_seconds=api_loss_grace_seconds)
        self.stopping = asyncio.Event()
        self.accepting = True
        self.started = time.time()
        self.shutdown_steps: list[str] = []
        self.registry = CollectorRegistry()
        self.m_beats = Counter("quantops_agent_heartbeats_total", "Heartbeats sent", registry=self.registry)
        self.m_errors = Counter(
            "quantops_agent_control_errors_total", "Control-plane errors", ["op"], registry=self.registry
        )
        self.m_gate = Gauge(
            "quantops_agent_effective_gate",
            "1 for the current effective gate",
            ["gate"],
            registry=self.registry,
        )
        self.m_uptime = Gauge("quantops_agent_uptime_seconds", "Seconds since start", registry=self.registry)
        self.m_uptime.set_function(lambda: time.time() - self.started)
        self.m_callback_errors = Counter(
            "quantops_agent_gate_callback_errors_total",
            "Gate callbacks that raised (retried until they succeed)",
            registry=self.registry,
        )
        self._announced: tuple[Gate, str] | None = None  # the gate last logged and exported
        self._applied: tuple[Gate, str] | None = None  # the gate every callback has handled
        self.on_gate: list[Callable[[Gate, str], Awaitable[None] | None]] = []
        self.snapshot: GateSnapshot | None = None  # the last gate snapshot (specs on Kubernetes)
        self.first_snapshot = asyncio.Event()
        self.work_failure = ""  # why the role's work ended while the agent was not stopping
        self.halted = ""  # why the role refuses to work (alive, not Ready, until a person acts)

    # -- views ----------------------------------------------------------------------------------
    def effective_gate(self) -> Gate:
        return self.gates.effective()[0]

    def alive(self) -> bool:
        """Liveness: false once the role's work has died — a restart is the only cure."""
        return not self.work_failure

    def halt(self, reason: str) -> None:
        """The role cannot work safely and a restart would not change that (a record that does
        not verify): stay alive, not Ready, with the reason in /status and the events."""
        self.halted = reason
        _event("agent_halted", agent=self.name, role=self.role, reason=reason)

    def ready(self) -> tuple[bool, str]:
        if self.work_failure:
            return False, f"role work ended: {self.work_failure}"
        if self.halted:
            return False, f"halted: {self.halted}"
        if not self.accepting:
            return False, "shutting down"
        if self.gates.api_lost():
            return False, "control plane unreachable (fail-closed PAUSE)"
        return True, "ok"

    def status(self) -> dict[str, Any]:
        gate, source = self.gates.effective()
        return {
            "agent": self.name,
            "role": self.role,
            "gate": gate.value,
            "gateSource": source,
            "gates": self.gates.gates,
            "strategyGates": {
                n: self.gates.effective_for(n)[0].value for n in sorted(self.gates.strategy_scopes)
            },
            "workFailure": self.work_failure or None,
            "halted": self.halted or None,
            "accepting": self.accepting,
            "apiLost": self.gates.api_lost(),
            "queueLength": self.work.queue_length(),
            "openOrders": self.work.open_orders(),
            "gateHistory": [{"at": t, "gate": g.value, "source": s} for t, g, s in self.gates.history[-50:]],
            "shutdownSteps": self.shutdown_steps,
            "work": self.work.describe(),
        }

    # -- loops ----------------------------------------------------------------------------------
    async def _apply_gate(self) -> None:
        """Log and export a new effective gate once; run the gate callbacks until they all succeed.

        A callback that raises (an unwind step the venue refused, a cancel that timed out) is
        logged and retried at the next call — the heartbeat loop calls this at least once a beat —
        and never ends the gate watch: the gate is only "applied" once every callback handled it.
        """
        current = self.gates.effective()
        if current != self._announced:
            old = self._announced
            self._announced = current
            for g in Gate:
                self.m_gate.labels(g.value).set(1 if g is current[0] else 0)
            _event(
                "gate_applied",
                agent=self.name,
                old=old[0].value if old else None,
                new=current[0].value,
                source=current[1],
                at=time.time(),
            )
        if current == self._applied:
            return
        try:
            for cb in self.on_gate:
                res = cb(*current)
                if res is not None:
                    await res
        except Exception as e:  # contained: retried at the next call, the watch goes on
            self.m_callback_errors.inc()
            why = f"{type(e).__name__}: {e}"
            _event("gate_callback_failed", agent=self.name, gate=current[0].value, error=why)
            return
        self._applied = current

    async def _heartbeats(self) -> None:
        while not self.stopping.is_set():
            beat = Beat(
                self.work.queue_length(), self.work.open_orders(), self.ready()[0] or self.gates.api_lost()
            )
            try:
                await self.control.heartbeat(beat)
                self.m_beats.inc()
            except ControlUnavailable as e:
                self.m_errors.labels("heartbeat").inc()
                log.warning("heartbeat failed: %s", e)
            await self._apply_gate()  # the fail-closed grace is checked at least once per beat
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.heartbeat_seconds)

    async def _gate_watch(self) -> None:
        """Supervised: whatever ends the stream (an outage, a bug), it is logged and re-opened."""
        delay = 0.2
        max_silence = max(1.0, self.gates.grace_seconds / 3)
        while not self.stopping.is_set():
            try:
                async for snap in self.control.watch_gates(max_silence):
                    self.gates.update(snap.gates, snap.stages, snap.strategy_scopes)
                    self.snapshot = snap
                    self.first_snapshot.set()
                    delay = 0.2
                    await self._apply_gate()
            except ControlUnavailable as e:
                self.m_errors.labels("watch").inc()
                log.warning("gate watch lost: %s", e)
            except Exception as e:  # never let the watch die: a frozen gate is worse than a retry
                self.m_errors.labels("watch").inc()
                _event("gate_watch_failed", agent=self.name, error=f"{type(e).__name__}: {e}")
            await self._apply_gate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            delay = min(delay * 2, 5.0)

    async def _run_work(self) -> None:
        """The role's work; its end while the agent is not stopping fails liveness (a pod restart)."""
        try:
            await self.work.run(self)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.work_failure = f"{type(e).__name__}: {e}"
        else:
            if not self.stopping.is_set():
                self.work_failure = "returned while the agent was running"
        if self.work_failure:
            _event("work_failed", agent=self.name, role=self.role, error=self.work_failure)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        app = build_app(alive=self.alive, ready=self.ready, status=self.status, registry=self.registry)
        runner, self.port = await serve(app, self.host, self.port)
        _event("agent_started", agent=self.name, role=self.role, port=self.port)
        await self._apply_gate()
        tasks = [asyncio.create_task(c) for c in (self._heartbeats(), self._gate_watch(), self._run_work())]
        await self.stopping.wait()
        await self._shutdown()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.control.close()
        await runner.cleanup()
        _event("agent_stopped", agent=self.name, steps=self.shutdown_steps)
        return 0

    def request_stop(self, why: str = "requested") -> None:
        if not self.stopping.is_set():
            _event("agent_stopping", agent=self.name, signal=why)
            self.stopping.set()

    async def _shutdown(self) -> None:
        self.accepting = False
        self.shutdown_steps.append("stopped-new-work")
        cancelled = await self.work.cancel_working_orders()
        self.shutdown_steps.append(f"cancelled-orders:{cancelled}")
        await self.work.flush()
        self.shutdown_steps.append("flushed-event-log")
        try:
            await self.control.release()
            self.shutdown_steps.append("released-lease")
        except ControlUnavailable as e:
            self.shutdown_steps.append(f"lease-release-failed:{e}")


def _event(kind: str, **fields: Any) -> None:
    print(json.dumps({"event": kind, **fields}, default=str), flush=True)
