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


class Control(Protocol):
    async def heartbeat(self, beat: Beat) -> None: ...
    async def release(self) -> None: ...
    def watch_gates(self) -> AsyncIterator[GateSnapshot]: ...
    async def close(self) -> None: ...


class LocalControl:
    """The `quantops up` supervisor: POST /api/heartbeat, long-poll GET /api/gates?since=version."""

    def __init__(self, url: str, agent: str, replica: str) -> None:
        self.url, self.agent, self.replica = url.rstrip("/"), agent, replica
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(35.0, connect=2.0))

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
            await self._http.post(
                f"{self.url}/api/release", json={"agent": self.agent, "replica": self.replica}
            )
        except httpx.HTTPError as e:
            raise ControlUnavailable(str(e)) from e

    async def watch_gates(self) -> AsyncIterator[GateSnapshot]:
        version = ""
        while True:
            try:
                r = await self._http.get(
                    f"{self.url}/api/gates", params={"agent": self.agent, "since": version}
                )
                r.raise_for_status()
            except httpx.HTTPError as e:
                raise ControlUnavailable(str(e)) from e
            data = r.json()
            version = str(data["version"])
            stages = data.get("stages")  # absent from a supervisor that predates stages
            yield GateSnapshot(dict(data["gates"]), version, dict(stages) if stages is not None else None)

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

    def _paths(self) -> dict[str, str]:
        base = f"/apis/quantops.dev/v1alpha1/namespaces/{self._ns}"
        out = {
            f"Agent/{self.agent}": f"{base}/agents/{self.agent}",
            "RiskPolicy/global": f"{base}/riskpolicies/global",
        }
        for s in self.strategies:
            out[f"Strategy/{s}"] = f"{base}/strategies/{s}"
        return out

    async def watch_gates(self) -> AsyncIterator[GateSnapshot]:
        """List, then watch the three object types; yield a snapshot on every gate change."""
        base = f"/apis/quantops.dev/v1alpha1/namespaces/{self._ns}"
        wanted = self._paths()
        gates: dict[str, str] = {}
        stages: dict[str, dict[str, str | None]] = {}
        versions: dict[str, str] = {}
        for plural, kind in (("agents", "Agent"), ("strategies", "Strategy"), ("riskpolicies", "RiskPolicy")):
            r = await self._req("GET", f"{base}/{plural}")
            if r.status_code >= 400:
                raise ControlUnavailable(f"list {plural}: HTTP {r.status_code}")
            data = r.json()
            versions[plural] = data["metadata"]["resourceVersion"]
            for item in data["items"]:
                key = f"{kind}/{item['metadata']['name']}"
                if key in wanted:
                    gates[key] = item["spec"].get("gate", "GO")
                    if kind == "Strategy":
                        stages[item["metadata"]["name"]] = _stage_view(item)
        for s in self.strategies:  # a Strategy that does not exist (yet) has no stage: fail closed
            stages.setdefault(s, {"stage": None, "desiredStage": None})
        yield GateSnapshot(dict(gates), "list", {k: dict(v) for k, v in stages.items()})
        # One watch stream per type, merged; a closed stream is an outage the runtime handles.
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | Exception] = asyncio.Queue()

        async def pump(plural: str, kind: str) -> None:
            params = {
                "watch": "1",
                "resourceVersion": versions[plural],
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "300",
            }
            try:
                async with self._http.stream(
                    "GET", f"{base}/{plural}", params=params, timeout=httpx.Timeout(None, connect=2.0)
                ) as resp:
                    async for line in resp.aiter_lines():
                        if line:
                            await queue.put((kind, json.loads(line)))
                await queue.put(ControlUnavailable(f"watch {plural} ended"))
            except (httpx.HTTPError, ValueError) as e:
                await queue.put(ControlUnavailable(f"watch {plural}: {e}"))

        tasks = [
            asyncio.create_task(pump(p, k))
            for p, k in (("agents", "Agent"), ("strategies", "Strategy"), ("riskpolicies", "RiskPolicy"))
        ]
        try:
            while True:
                item = await queue.get()
                if isinstance(item, Exception):
                    raise item
                kind, ev = item
                obj = ev.get("object", {})
                key = f"{kind}/{obj.get('metadata', {}).get('name')}"
                if ev.get("type") == "BOOKMARK" or key not in wanted:
                    continue
                new = "GO" if ev["type"] == "DELETED" else obj.get("spec", {}).get("gate", "GO")
                changed = gates.get(key) != new
                gates[key] = new
                if kind == "Strategy":
                    name = key.removeprefix("Strategy/")
                    view: dict[str, str | None] = {"stage": None, "desiredStage": None}
                    if ev["type"] != "DELETED":
                        view = _stage_view(obj)
                    changed = changed or stages.get(name) != view
                    stages[name] = view
                if changed:
                    yield GateSnapshot(
                        dict(gates),
                        obj.get("metadata", {}).get("resourceVersion", ""),
                        {k: dict(v) for k, v in stages.items()},
                    )
        finally:
            for t in tasks:
                t.cancel()

    async def close(self) -> None:
        await self._http.aclose()
