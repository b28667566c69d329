"""Kubernetes API reachability for preflight (roadmap 6, "API access").

Why it exists: agents watch their Agent/Strategy/RiskPolicy objects and fail closed to PAUSE when
they lose the API. Knowing before start that the API server answers saves a confusing PAUSE.
The API is probed only when it is configured: in-cluster (``KUBERNETES_SERVICE_HOST`` with the
service-account token) or through a kubeconfig (explicit path, ``$KUBECONFIG``, ``~/.kube/config``).
Otherwise the status is ``skipped: not configured``, never a silent "ok".

What it must not do: use the kubernetes client library (the trading library never imports the
Kubernetes stack, see the import contracts) or write anything; it sends one GET ``/version``.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from quantops_trading.ops.host import HostCheck

__all__ = ["ApiTarget", "check_kubernetes_api", "resolve_target"]

_SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class ApiTarget:
    server: str
    source: str
    ca_pem: bytes | None = None
    insecure: bool = False
    token: str | None = None
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None


def _read_ref(entry: Mapping[str, Any], key: str, base: Path) -> bytes | None:
    """``<key>-data`` (base64) or ``<key>`` (a file path relative to the kubeconfig)."""
    if entry.get(f"{key}-data"):
        return base64.b64decode(str(entry[f"{key}-data"]))
    if entry.get(key):
        return (base / str(entry[key])).read_bytes()
    return None


def _from_kubeconfig(path: Path) -> ApiTarget:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    contexts = {c["name"]: c.get("context", {}) for c in doc.get("contexts") or []}
    name = doc.get("current-context") or next(iter(contexts), None)
    context = contexts.get(name, {}) if name else {}
    clusters = {c["name"]: c.get("cluster", {}) for c in doc.get("clusters") or []}
    users = {u["name"]: u.get("user", {}) for u in doc.get("users") or []}
    cluster = clusters.get(context.get("cluster")) or next(iter(clusters.values()), None)
    if not cluster or not cluster.get("server"):
        raise ValueError(f"kubeconfig {path}: no cluster server for context {name!r}")
    user = users.get(context.get("user"), {}) or {}
    return ApiTarget(
        server=str(cluster["server"]),
        source=f"kubeconfig {path} (context {name})",
        ca_pem=_read_ref(cluster, "certificate-authority", path.parent),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        token=str(user["token"]) if user.get("token") else None,
        client_cert_pem=_read_ref(user, "client-certificate", path.parent),
        client_key_pem=_read_ref(user, "client-key", path.parent),
    )


def resolve_target(
    kubeconfig: Path | None, env: Mapping[str, str], home: Path | None = None
) -> ApiTarget | None:
    """Where the API is, or None when nothing configures one. Raises ValueError on a broken kubeconfig."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
    if kubeconfig is None and host:
        token_file, ca_file = _SA_DIR / "token", _SA_DIR / "ca.crt"
        return ApiTarget(
            server=f"https://{host}:{port}",
            source="in-cluster service account",
            ca_pem=ca_file.read_bytes() if ca_file.exists() else None,
            token=token_file.read_text().strip() if token_file.exists() else None,
        )
    candidates = [kubeconfig] if kubeconfig else []
    if not candidates and env.get("KUBECONFIG"):
        candidates = [Path(p) for p in env["KUBECONFIG"].split(os.pathsep) if p]
    if not candidates:
        candidates = [(home or Path(env.get("HOME", "~")).expanduser()) / ".kube" / "config"]
    for path in candidates:
        if path.is_file():
            return _from_kubeconfig(path)
    if kubeconfig is not None:
        raise ValueError(f"configured kubeconfig {kubeconfig} does not exist")
    return None


def _ssl_context(target: ApiTarget, scratch: Path) -> ssl.SSLContext | bool:
    if target.insecure:
        return False
    ctx = ssl.create_default_context(cadata=target.ca_pem.decode() if target.ca_pem else None)
    if target.client_cert_pem and target.client_key_pem:
        cert, key = scratch / "client.crt", scratch / "client.key"
        cert.write_bytes(target.client_cert_pem)
        key.write_bytes(target.client_key_pem)
        ctx.load_cert_chain(cert, key)
    return ctx


def check_kubernetes_api(
    kubeconfig: Path | None, env: Mapping[str, str], timeout_s: float = 3.0, home: Path | None = None
) -> HostCheck:
    """ok on HTTP 200 from ``/version``; warn when reachable but refused (401/403); fail otherwise."""
    try:
        target = resolve_target(kubeconfig, env, home)
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError) as exc:
        return HostCheck("fail", f"kubernetes API misconfigured: {exc}", {})
    if target is None:
        return HostCheck("skipped", "skipped: not configured (no in-cluster env, no kubeconfig)", {})
    details: dict[str, Any] = {"server": target.server, "source": target.source}
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    with tempfile.TemporaryDirectory(prefix="quantops-kube-") as scratch:
        try:
            verify = _ssl_context(target, Path(scratch))
            with httpx.Client(timeout=timeout_s, verify=verify, trust_env=False) as client:
                response = client.get(target.server.rstrip("/") + "/version", headers=headers)
        except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
            return HostCheck("fail", f"kubernetes API {target.server} unreachable: {exc}", details)
    details["http_status"] = response.status_code
    if response.status_code == 200:
        try:
            details["git_version"] = response.json().get("gitVersion")
        except ValueError:
            details["git_version"] = None
        return HostCheck("ok", f"kubernetes API {target.server} answered /version", details)
    if response.status_code in (401, 403):
        return HostCheck(
            "warn", f"kubernetes API reachable but refused: HTTP {response.status_code}", details
        )
    return HostCheck("fail", f"kubernetes API {target.server} answered HTTP {response.status_code}", details)
