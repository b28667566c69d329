"""The only module that calls the Kubernetes API (besides kopf's own watching and patching).

What a reconcile observes (Deployments, Pods, Leases, other Agents) comes from kopf's indexes,
fed by its watches; this client only writes (server-side apply, status patches) and pings.

A thin async REST client: credentials come from kubernetes_asyncio's loaders (kubeconfig or
in-cluster), requests go out with aiohttp. Verbs used here must stay within rbac.NAMESPACED_RULES.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import ssl
from typing import Any

import aiohttp
from kubernetes_asyncio import config as kconfig
from kubernetes_asyncio.client import Configuration

from quantops_operator.resources import names


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Kube:
    def __init__(self, cfg: Configuration) -> None:
        self.host = str(cfg.host).rstrip("/")
        ctx = (
            ssl.create_default_context(cafile=cfg.ssl_ca_cert)
            if cfg.ssl_ca_cert
            else ssl.create_default_context()
        )
        if cfg.cert_file and cfg.key_file:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        if not cfg.verify_ssl:
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        self._headers = {}
        token = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
        if token:
            self._headers["Authorization"] = token if token.startswith("Bearer") else f"Bearer {token}"
        # Since when the API server has answered without a break: heartbeats are judged only over
        # time the operator could see them (an outage of the API is not every agent going silent).
        self.contact_since: dt.datetime | None = None
        # At most 50 requests in flight; the rest wait for a connection. The wait is not timed out
        # (a burst of 500 new Agents queues here), a connect or an answer that takes too long is.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ctx, limit=50),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30),
        )

    @classmethod
    async def connect(cls) -> Kube:
        cfg = Configuration()
        try:
            kconfig.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except kconfig.ConfigException:
            # KUBECONFIG is read here, not at import time (kubernetes_asyncio caches it on import).
            await kconfig.load_kube_config(config_file=os.environ.get("KUBECONFIG"), client_configuration=cfg)
        return cls(cfg)

    async def close(self) -> None:
        await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        headers = {**self._headers, "Content-Type": content_type, "Accept": "application/json"}
        try:
            async with self._session.request(
                method, self.host + path, json=body, headers=headers, params=params
            ) as r:
                if r.status >= 500:
                    self.contact_since = None
                elif self.contact_since is None:
                    self.contact_since = dt.datetime.now(dt.UTC)
                if r.status == 404 and method == "GET":
                    return None
                data: dict[str, Any] = await r.json(content_type=None)
                if r.status >= 400:
                    raise KubeError(r.status, str(data.get("message", data)))
                return data
        except (aiohttp.ClientError, TimeoutError):
            self.contact_since = None
            raise

    async def ping(self) -> bool:
        """GET /version (a non-resource URL every client may read): is the API server answering?

        Children, Leases and Pods are read from kopf's watch indexes, not fetched per reconcile, so
        the operator's own requests no longer tell whether the API is reachable; this does, for
        ``contact_since``."""
        try:
            async with self._session.get(self.host + "/version", headers=self._headers) as r:
                ok = r.status < 500
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if not ok:
            self.contact_since = None
        elif self.contact_since is None:
            self.contact_since = dt.datetime.now(dt.UTC)
        return ok

    async def keep_contact(self, interval: float) -> None:
        """Ping forever (a task started with the operator): ``contact_since`` breaks within ``interval``."""
        while True:
            await self.ping()
            await asyncio.sleep(interval)

    # -- the calls the operator makes (each maps to one rule in rbac.py) --------------------------

    async def apply(self, ns: str, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Server-side apply (PATCH with the operator as field manager): create or converge."""
        kind = obj["kind"]
        base = {
            "Deployment": f"/apis/apps/v1/namespaces/{ns}/deployments",
            "ConfigMap": f"/api/v1/namespaces/{ns}/configmaps",
            "Service": f"/api/v1/namespaces/{ns}/services",
            "PersistentVolumeClaim": f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
        }[kind]
        return await self.request(
            "PATCH",
            f"{base}/{obj['metadata']['name']}",
            obj,
            content_type="application/apply-patch+yaml",
            params={"fieldManager": "quantops-operator", "force": "true"},
        )

    async def list_leases(self, ns: str, agent: str) -> list[dict[str, Any]]:
        """An Agent's heartbeat Leases as the API server has them now (not as the watch last said)."""
        data = await self.request(
            "GET",
            f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
            params={"labelSelector": f"{names.LABEL_AGENT}={agent}"},
        )
        return list((data or {}).get("items", []))

    async def patch_agent_status(self, ns: str, name: str, status: dict[str, Any]) -> None:
        await self.request(
            "PATCH",
            f"/apis/quantops.dev/v1alpha1/namespaces/{ns}/agents/{name}/status",
            {"status": status},
            content_type="application/merge-patch+json",
        )
