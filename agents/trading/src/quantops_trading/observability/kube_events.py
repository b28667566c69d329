"""Kubernetes Events (events.k8s.io/v1) for automatic decisions, deduplicated into series (93, 60).

Why it exists: an operator looking at ``kubectl describe strategy x`` must see that the risk engine
stopped it, and why, next to the object — and a kill switch flapping fifty times must be one Event
with ``series.count: 50``, not fifty Events (the API server's own event budget is finite).
:class:`KubeEventRecorder` talks to the API server with the same httpx + bearer-token pattern as
:class:`~quantops_trading.runtime.control.KubeControl`: the first occurrence of (object, reason,
type, note) creates an Event; every repeat merge-patches its ``series`` (count, lastObservedTime).

:meth:`KubeEventRecorder.publish` maps the risk engine's automatic decisions to Events:
``GateChanged`` (on the Strategy for ``strategy/S`` scopes, the global RiskPolicy for ``global``,
otherwise the reporting Agent with the scope in the note), ``StageDemoted`` (the Strategy),
``BudgetChanged`` (the global RiskPolicy, whose ``status.lastBudgetChange`` also gets the
explanation) and unwind-ladder start/interruption/completion (the Strategy). It is also an alert
sink (:meth:`emit`) for ``observability.alerts.KubeEventChannel``.

What it must not do: block the trading loop (``publish_soon`` schedules the write) or retry
forever; a failed write is counted in :attr:`KubeEventRecorder.errors` and dropped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel

from quantops_trading.model.events import GateChanged
from quantops_trading.risk.events import BudgetChanged, StageDemoted, UnwindStep

__all__ = ["KubeEventRecorder", "ObjectRef", "decision_event"]

API = "quantops.dev/v1alpha1"
_PLURALS = {"Agent": "agents", "Strategy": "strategies", "RiskPolicy": "riskpolicies"}
_KINDS = {"agent": "Agent", "strategy": "Strategy", "riskpolicy": "RiskPolicy"}
_SEVERITY = {"GO": 0, "CHECK": 1, "PAUSE": 2, "STOP": 3}
EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True, slots=True)
class ObjectRef:
    kind: str
    name: str

    @classmethod
    def parse(cls, scope: str, agent: str) -> tuple[ObjectRef, str]:
        """``Kind/name`` (any case), ``strategy/S``, ``global`` → an object; other scopes → the agent."""
        head, _, tail = scope.partition("/")
        if scope == "global":
            return cls("RiskPolicy", "global"), ""
        kind = _KINDS.get(head.lower())
        if kind is not None and tail:
            return cls(kind, tail), ""
        return cls("Agent", agent), f"[{scope}] "


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decision_event(event: BaseModel, agent: str) -> tuple[ObjectRef, str, EventType, str] | None:
    """(object, reason, type, note) for an automatic decision, or ``None`` if it is not one."""
    if isinstance(event, GateChanged):
        ref, prefix = ObjectRef.parse(event.scope, agent)
        worse = _SEVERITY.get(event.new, 3) > _SEVERITY.get(event.old, 3)
        note = f"{prefix}gate {event.old} → {event.new} by {event.actor}: {event.reason}"
        return ref, "AutomaticGateChanged", "Warning" if worse else "Normal", note
    if isinstance(event, StageDemoted):
        note = f"stage {event.old} → {event.new}: {event.reason}"
        return ObjectRef("Strategy", event.strategy_id), "StageDemoted", "Warning", note
    if isinstance(event, BudgetChanged):
        return ObjectRef("RiskPolicy", "global"), "BudgetChanged", "Normal", event.explanation
    if isinstance(event, UnwindStep) and event.action in ("start", "interrupted", "done"):
        reason = {"start": "UnwindStarted", "interrupted": "UnwindInterrupted", "done": "UnwindDone"}
        note = f"{event.symbol}: {event.reason} (remaining {event.remaining})"
        typ: EventType = "Warning" if event.action == "start" else "Normal"
        return ObjectRef("Strategy", event.strategy_id), reason[event.action], typ, note
    return None


class ApiCredentials(Protocol):
    """How an agent reaches the API server (runtime/control.py's ``KubeCredentials``)."""

    @property
    def namespace(self) -> str: ...
    def http_options(self) -> dict[str, Any]: ...


class KubeEventRecorder:
    """Creates and deduplicates Events about quantops objects in one namespace."""

    def __init__(
        self,
        creds: ApiCredentials,
        *,
        agent: str,
        instance: str,
        controller: str = "quantops.dev/risk-engine",
    ) -> None:
        self._http = httpx.AsyncClient(**creds.http_options())
        self.ns, self.agent = creds.namespace, agent
        self.instance, self.controller = instance[:128], controller
        self.series: dict[tuple[str, str, str, str, str], tuple[str, int]] = {}
        self.errors: list[str] = []
        self._uids: dict[ObjectRef, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        r = await self._http.request(method, path, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {r.status_code} {r.text[:300]}")
        return r

    def _object_path(self, ref: ObjectRef) -> str:
        plural = _PLURALS.get(ref.kind)
        if plural is None:
            raise ValueError(f"ObjectRef.kind: {ref.kind!r} is not one of {sorted(_PLURALS)}")
        return f"/apis/{API}/namespaces/{self.ns}/{plural}/{ref.name}"

    async def _uid(self, ref: ObjectRef) -> str | None:
        if ref not in self._uids:
            r = await self._http.get(self._object_path(ref))
            if r.status_code == 404:
                return None  # an Event may still be recorded about an object not (yet) created
            if r.status_code >= 400:
                raise RuntimeError(f"get {ref.kind}/{ref.name}: HTTP {r.status_code}")
            self._uids[ref] = str(r.json()["metadata"]["uid"])
        return self._uids[ref]

    async def record(
        self, ref: ObjectRef, reason: str, note: str, type_: EventType = "Normal", action: str = "Decided"
    ) -> str:
        """Create the Event, or bump its series when the same one was recorded before; its name."""
        note = note if len(note.encode()) <= 1024 else note.encode()[:1020].decode(errors="ignore") + "…"
        key = (ref.kind, ref.name, reason, type_, note)
        base = f"/apis/events.k8s.io/v1/namespaces/{self.ns}/events"
        known = self.series.get(key)
        if known is not None:
            name, count = known
            body = {"series": {"count": count + 1, "lastObservedTime": _now()}}
            await self._call(
                "PATCH",
                f"{base}/{name}",
                content=json.dumps(body),
                headers={"Content-Type": "application/merge-patch+json"},
            )
            self.series[key] = (name, count + 1)
            return name
        name = f"{ref.name}.{uuid.uuid4().hex[:16]}"
        regarding: dict[str, str] = {
            "apiVersion": API,
            "kind": ref.kind,
            "name": ref.name,
            "namespace": self.ns,
        }
        uid = await self._uid(ref)
        if uid is not None:
            regarding["uid"] = uid
        event = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": self.ns, "labels": {"quantops.dev/agent": self.agent}},
            "eventTime": _now(),
            "reportingController": self.controller,
            "reportingInstance": self.instance,
            "action": action,
            "reason": reason,
            "regarding": regarding,
            "note": note,
            "type": type_,
        }
        await self._call("POST", base, json=event)
        self.series[key] = (name, 1)
        return name

    async def patch_status(self, ref: ObjectRef, status: dict[str, Any]) -> None:
        """Merge-patch the object's status subresource (only the given fields)."""
        await self._call(
            "PATCH",
            f"{self._object_path(ref)}/status",
            content=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        )

    async def publish(self, event: BaseModel) -> None:
        """An automatic decision → its Event (and, for a budget change, the RiskPolicy status)."""
        mapped = decision_event(event, self.agent)
        if mapped is None:
            return
        ref, reason, type_, note = mapped
        try:
            if isinstance(event, BudgetChanged):
                at = dt.datetime.fromtimestamp(event.ts_ns / 1e9, dt.UTC)
                explanation = event.explanation[:4000]
                change = {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "explanation": explanation}
                await self.patch_status(ref, {"lastBudgetChange": change})
            await self.record(ref, reason, note, type_)
        except (httpx.HTTPError, RuntimeError) as e:
            self.errors.append(f"{reason} {ref.kind}/{ref.name}: {e}")
            del self.errors[:-50]

    def publish_soon(self, event: BaseModel) -> None:
        """Schedule :meth:`publish` on the running loop (the risk engine is synchronous)."""
        if decision_event(event, self.agent) is None:
            return
        task = asyncio.get_running_loop().create_task(self.publish(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def emit(self, involved: str, reason: str, message: str, type_: str) -> None:
        """The alert-sink interface (``observability.alerts.KubeEventSink``)."""
        ref, prefix = ObjectRef.parse(involved, self.agent)
        typ: EventType = "Warning" if type_ == "Warning" else "Normal"
        try:
            await self.record(ref, reason, prefix + message, typ, action="Alerted")
        except (httpx.HTTPError, RuntimeError) as e:
            self.errors.append(f"{reason} {ref.kind}/{ref.name}: {e}")

    async def drain(self) -> None:
        """Wait for scheduled publishes (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self._http.aclose()
