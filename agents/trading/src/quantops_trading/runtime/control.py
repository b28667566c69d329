"""Where an agent sends heartbeats and learns its gates: Kubernetes or the local supervisor.

Both implementations answer the same two questions: "renew my heartbeat (with queue length,
open orders, health)" and "what are the gates of the objects I depend on, and when do they
change?". Failures raise ControlUnavailable; the runtime decides when that means fail-closed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml

from quantops_api.orchestration import MISSING_GATE


class ControlUnavailable(RuntimeError):
    """The control plane (API server or local supervisor) cannot be reached."""


@dataclass(frozen=True)
class Beat:
    queue_length: int = 0
    open_orders: int = 0
    healthy: bool = True
    detail: str = ""


@dataclass
class GateSnapshot:
    """Gates by scope, e.g. {"Agent/trader": "GO", "RiskPolicy/global": "PAUSE"}."""

    gates: dict[str, str] = field(default_factory=dict)
    version: str = ""
    stages: dict[str, dict[str, str | None]] | None = None
    """Per strategy ``{"stage": status.stage, "desiredStage": spec.desiredStage}``; None: not reported."""
    strategy_scopes: dict[str, list[str]] | None = None
    """Per strategy, the gate scopes that apply to it alone; None: not reported (all agent-wide)."""
    specs: dict[str, dict[str, Any]] | None = None
    """``Strategy/<n>`` and ``RiskPolicy/<n>`` → spec (as on the wire) of the objects that apply to
    this agent; None: not reported (the agent's config file carries them)."""


class Control(Protocol):
    async def heartbeat(self, beat: Beat) -> None: ...
    async def release(self) -> None: ...
    def watch_gates(self, max_silence: float = 60.0) -> AsyncIterator[GateSnapshot]:
        """Snapshots on every change and at least every ``max_silence`` seconds while the control
        plane answers (the caller's proof of freshness); raises ControlUnavailable when it does not."""
        ...

    async def close(self) -> None: ...


class LocalControl:
    """The `quantops up` supervisor: POST /api/heartbeat, long-poll GET /api/gates?since=version.

    ``token`` is this agent's own credential (``$QUANTOPS_CONTROL_TOKEN``, set by `quantops up`),
    sent as ``Authorization: Bearer``; the supervisor takes the agent's identity from it. A refused
    credential (401/403) is ControlUnavailable, like a supervisor that does not answer: fail closed.
    """

    def __init__(self, url: str, agent: str, replica: str, token: str | None = None) -> None:
        self.url, self.agent, self.replica = url.rstrip("/"), agent, replica
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(35.0, connect=2.0), headers=headers)

    async def heartbeat(self, beat: Beat) -> None:
        body = {
            "agent": self.agent,
            "replica": self.replica,
            "queueLength": beat.queue_length,
            "openOrders": beat.open_orders,
            "healthy": beat.healthy,
            "detail": beat.detail,
        }
        try:
            r = await self._http.post(f"{self.url}/api/heartbeat", json=body)
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise ControlUnavailable(str(e)) from e

    async def release(self) -> None:
        try:
            r = await self._http.post(
                f"{self.url}/api/release", json={"agent": self.agent, "replica": self.replica}
            )
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise ControlUnavailable(str(e)) from e

    async def watch_gates(self, max_silence: float = 60.0) -> AsyncIterator[GateSnapshot]:
        version = ""
        wait = f"{max(0.5, min(25.0, max_silence)):.1f}"  # the long poll answers at least this often
        while True:
            try:
                r = await self._http.get(
                    f"{self.url}/api/gates", params={"agent": self.agent, "since": version, "wait": wait}
                )
                r.raise_for_status()
            except httpx.HTTPError as e:
                raise ControlUnavailable(str(e)) from e
            data = r.json()
            version = str(data["version"])
            stages = data.get("stages")  # absent from a supervisor that predates stages
            scopes = data.get("strategyScopes")
            yield GateSnapshot(
                dict(data["gates"]),
                version,
                dict(stages) if stages is not None else None,
                {k: list(v) for k, v in scopes.items()} if scopes is not None else None,
            )

    async def close(self) -> None:
        await self._http.aclose()


def _stage_view(obj: dict[str, Any]) -> dict[str, str | None]:
    """What the trader needs of a Strategy object: the pipeline's stage and the owner's ceiling."""
    return {
        "stage": (obj.get("status") or {}).get("stage"),
        "desiredStage": (obj.get("spec") or {}).get("desiredStage", "COLD"),
    }


@dataclass(frozen=True)
class KubeCredentials:
    server: str
    token: str
    ca_file: str | None
    namespace: str

    def http_options(self) -> dict[str, Any]:
        """httpx client options every API caller of an agent shares (TLS, token, bounded timeouts)."""
        verify: ssl.SSLContext | bool = True
        if self.ca_file:
            verify = ssl.create_default_context(cafile=self.ca_file)
        return {
            "base_url": self.server,
            "verify": verify,
            "headers": {"Authorization": f"Bearer {self.token}"},
            "timeout": httpx.Timeout(10.0, connect=2.0),
        }

    @classmethod
    def discover(cls) -> KubeCredentials:
        """In-cluster service account, else the kubeconfig in $KUBECONFIG (token auth)."""
        sa = Path("/var/run/secrets/kubernetes.io/serviceaccount")
        if (sa / "token").exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
            host, port = (
                os.environ["KUBERNETES_SERVICE_HOST"],
                os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
            )
            return cls(
                f"https://{host}:{port}",
                (sa / "token").read_text().strip(),
                str(sa / "ca.crt"),
                (sa / "namespace").read_text().strip(),
            )
        path = os.environ.get("KUBECONFIG")
        if not path:
            raise ControlUnavailable("no in-cluster service account and KUBECONFIG is not set")
        cfg = yaml.safe_load(Path(path).read_text())
        ctx_name = cfg["current-context"]
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        if "token" not in user:
            raise ControlUnavailable(
                f"{path}: user {ctx['user']!r} has no token (only token auth is supported)"
            )
        return cls(
            cluster["server"],
            user["token"],
            cluster.get("certificate-authority"),
            os.environ.get("POD_NAMESPACE") or ctx.get("namespace", "default"),
        )


class KubeControl:
    """Lease per replica (renewed like kubelet node heartbeats) and watches on the gate objects."""

    def __init__(self, creds: KubeCredentials, agent: str, replica: str, strategies: list[str]) -> None:
        self.creds, self.agent, self.replica, self.strategies = creds, agent, replica, strategies
        self._http = httpx.AsyncClient(**creds.http_options())
        self._lease = f"{agent}-{replica}"[:63]
        self._ns = creds.namespace

    async def _req(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise ControlUnavailable(f"{method} {path}: {e}") from e

    async def heartbeat(self, beat: Beat) -> None:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self._lease,
                "namespace": self._ns,
                "labels": {"quantops.dev/agent": self.agent},
                "annotations": {
                    "quantops.dev/queue-length": str(beat.queue_length),
                    "quantops.dev/open-orders": str(beat.open_orders),
                    "quantops.dev/health": "ok" if beat.healthy else "degraded",
                    "quantops.dev/health-detail": beat.detail[:500],
                },
            },
            "spec": {"holderIdentity": self.replica, "leaseDurationSeconds": 15, "renewTime": now},
        }
        r = await self._req(
            "PATCH",
            f"/apis/coordination.k8s.io/v1/namespaces/{self._ns}/leases/{self._lease}",
            content=json.dumps(lease),
            params={"fieldManager": "quantops-agent", "force": "true"},
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        if r.status_code >= 400:
            raise ControlUnavailable(f"lease renew failed: HTTP {r.status_code} {r.text[:200]}")

    async def release(self) -> None:
        await self._req("DELETE", f"/apis/coordination.k8s.io/v1/namespaces/{self._ns}/leases/{self._lease}")

    @property
    def namespace(self) -> str:
        return self._ns

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """Any other call an agent makes (venue discovery, its single-writer Lease), same client."""
        return await self._req(method, path, **kw)

    async def watch_gates(self, max_silence: float = 60.0) -> AsyncIterator[GateSnapshot]:
        """List, then watch Agents, Strategies and RiskPolicies; yield the view of this agent's gates.

        Fail closed: an object this agent depends on that is missing or DELETED reads as PAUSE
        (deleting a STOPped policy must not lift the stop). Each watch asks the API server to end
        it after about ``max_silence`` seconds and is re-established from its last resourceVersion
        (bookmarks keep it current); every re-established watch yields a snapshot, so the caller's
        freshness comes from the gate stream itself. A stream silent for longer than that plus a
        margin is a lost connection (read timeout), not a quiet one.
        """
        base = f"/apis/quantops.dev/v1alpha1/namespaces/{self._ns}"
        view = _KubeGateView(self.agent, self.strategies)
        versions: dict[str, str] = {}
        for plural, kind in _WATCHED:
            r = await self._req("GET", f"{base}/{plural}")
            if r.status_code >= 400:
                raise ControlUnavailable(f"list {plural}: HTTP {r.status_code}")
            data = r.json()
            versions[plural] = data["metadata"]["resourceVersion"]
            for item in data["items"]:
                view.put(kind, item)
        yield view.snapshot("list")
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | Exception | None] = asyncio.Queue()
        seconds = max(1, int(max_silence))

        async def pump(plural: str, kind: str) -> None:
            while True:
                params = {
                    "watch": "1",
                    "resourceVersion": versions[plural],
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": str(seconds),
                }
                try:
                    async with self._http.stream(
                        "GET",
                        f"{base}/{plural}",
                        params=params,
                        timeout=httpx.Timeout(seconds + 10.0, connect=2.0),
                    ) as resp:
                        if resp.status_code >= 400:
                            await queue.put(ControlUnavailable(f"watch {plural}: HTTP {resp.status_code}"))
                            return
                        await queue.put(None)  # (re-)established: the API server answers
                        async for line in resp.aiter_lines():
                            if not line:
                                continue
                            ev = json.loads(line)
                            if ev.get("type") == "ERROR":  # e.g. 410 Gone: our version is too old
                                msg = (ev.get("object") or {}).get("message", "")
                                await queue.put(ControlUnavailable(f"watch {plural}: {msg} (re-list)"))
                                return
                            rv = (ev.get("object") or {}).get("metadata", {}).get("resourceVersion")
                            if rv:
                                versions[plural] = rv
                            await queue.put((kind, ev))
                except (httpx.HTTPError, ValueError) as e:
                    await queue.put(ControlUnavailable(f"watch {plural}: {type(e).__name__}: {e}"))
                    return

        tasks = [asyncio.create_task(pump(p, k)) for p, k in _WATCHED]
        try:
            while True:
                item = await queue.get()
                if isinstance(item, Exception):
                    raise item
                if item is None:
                    yield view.snapshot("rewatch")
                    continue
                kind, ev = item
                if ev.get("type") == "BOOKMARK":
                    continue
                obj = ev.get("object", {})
                if ev["type"] == "DELETED":
                    view.drop(kind, obj)
                else:
                    view.put(kind, obj)
                snap = view.snapshot_if_changed(obj.get("metadata", {}).get("resourceVersion", ""))
                if snap is not None:
                    yield snap
        finally:
            for t in tasks:
                t.cancel()

    async def close(self) -> None:
        await self._http.aclose()


_WATCHED = (("agents", "Agent"), ("strategies", "Strategy"), ("riskpolicies", "RiskPolicy"))


_View = tuple[dict[str, str], dict[str, dict[str, str | None]], dict[str, list[str]], dict[str, Any]]


class _KubeGateView:
    """The objects one agent's gates depend on, and the snapshot they make (pure; no I/O).

    Which RiskPolicies apply to a strategy: ``global`` (agent-wide), the one its ``riskPolicyRef``
    names, and every one whose ``selector`` matches the strategy's labels — the same rule the
    operator's Strategy status uses.
    """

    def __init__(self, agent: str, strategies: list[str]) -> None:
        self.agent, self.strategies = agent, list(strategies)
        self.objs: dict[tuple[str, str], dict[str, Any]] = {}
        self._last: tuple[Any, ...] | None = None

    def put(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj.get("metadata", {}).get("name", "")
        if kind == "Agent" and name != self.agent:
            return
        if kind == "Strategy" and name not in self.strategies:
            return
        self.objs[(kind, name)] = obj

    def drop(self, kind: str, obj: dict[str, Any]) -> None:
        self.objs.pop((kind, obj.get("metadata", {}).get("name", "")), None)

    def _policies_of(self, strategy: str) -> list[str]:
        obj = self.objs.get(("Strategy", strategy))
        if obj is None:
            return []
        labels = obj.get("metadata", {}).get("labels") or {}
        ref = (obj.get("spec") or {}).get("riskPolicyRef")
        out = [ref] if ref and ref != "global" else []
        for (kind, name), pol in sorted(self.objs.items()):
            sel = (pol.get("spec") or {}).get("selector") or {}
            matches = bool(sel) and all(labels.get(k) == v for k, v in sel.items())
            if kind == "RiskPolicy" and name != "global" and name not in out and matches:
                out.append(name)
        return out

    def _gate(self, kind: str, name: str) -> str:
        obj = self.objs.get((kind, name))
        return MISSING_GATE.value if obj is None else str((obj.get("spec") or {}).get("gate", "GO"))

    def _view(self) -> _View:
        gates = {f"Agent/{self.agent}": self._gate("Agent", self.agent)}
        gates["RiskPolicy/global"] = self._gate("RiskPolicy", "global")
        stages: dict[str, dict[str, str | None]] = {}
        scopes: dict[str, list[str]] = {}
        specs: dict[str, Any] = {}
        for s in self.strategies:
            obj = self.objs.get(("Strategy", s))
            # a Strategy that does not exist (yet) has no stage: fail closed
            stages[s] = _stage_view(obj) if obj is not None else {"stage": None, "desiredStage": None}
            gates[f"Strategy/{s}"] = self._gate("Strategy", s)
            mine = [f"Strategy/{s}"]
            for p in self._policies_of(s):
                gates[f"RiskPolicy/{p}"] = self._gate("RiskPolicy", p)
                mine.append(f"RiskPolicy/{p}")
            scopes[s] = mine
            if obj is not None:
                specs[f"Strategy/{s}"] = obj.get("spec") or {}
        for key in gates:
            kind, _, name = key.partition("/")
            obj = self.objs.get((kind, name))
            if kind == "RiskPolicy" and obj is not None:
                specs[key] = obj.get("spec") or {}
        return gates, stages, scopes, specs

    def snapshot_if_changed(self, version: str) -> GateSnapshot | None:
        view = self._view()
        return None if view == self._last else self._snapshot(view, version)

    def snapshot(self, version: str) -> GateSnapshot:
        return self._snapshot(self._view(), version)

    def _snapshot(self, view: _View, version: str) -> GateSnapshot:
        self._last = view
        gates, stages, scopes, specs = view
        return GateSnapshot(
            dict(gates),
            version,
            {k: dict(v) for k, v in stages.items()},
            {k: list(v) for k, v in scopes.items()},
            json.loads(json.dumps(specs)),
        )
