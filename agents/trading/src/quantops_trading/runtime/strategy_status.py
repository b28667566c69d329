"""Strategy status I/O for the pipeline agent: the Kubernetes status subresource or `quantops up`.

Why it exists: promotions and demotions must land where operators look — ``kubectl get qs`` on a
cluster (``PATCH .../strategies/<name>/status``, JSON merge patch, so only the pipeline's fields
change and the operator's conditions/effective gate stay), the supervisor's ``/api/status``
under ``quantops up`` (``POST /api/strategies/<name>/status``). Both implement
:class:`~quantops_trading.pipeline.store.StrategyStore`; failures raise ``StatusWriteError`` naming
the object and the HTTP answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import ValidationError

from quantops_api import StrategySpec, StrategyStatus
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.pipeline.claims import ClaimView, may_claim
from quantops_trading.pipeline.store import StatusWriteError, StrategyRecord, StrategyStore
from quantops_trading.runtime.control import KubeCredentials

__all__ = [
    "KubeStrategyStatus",
    "LocalStrategyStatus",
    "StatusWriteError",
    "StrategyStore",
    "claim_lease_name",
]


def _record(name: str, spec: Any, status: Any) -> StrategyRecord:
    try:
        return StrategyRecord(
            name, StrategySpec.model_validate(spec), StrategyStatus.model_validate(status or {})
        )
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise StatusWriteError(f"Strategy/{name}: {loc}: {first['msg']}") from e


class LocalStrategyStatus:
    """The `quantops up` supervisor: GET /api/strategies, POST /api/strategies/<name>/status.

    Authenticated with the agent's own credential (``token``, default ``$QUANTOPS_CONTROL_TOKEN``);
    the supervisor audits the write as that credential's principal (``agent/<name>``).
    """

    def __init__(self, url: str, who: str, token: str | None = None) -> None:
        self.url, self.who = url.rstrip("/"), who
        token = token if token is not None else os.environ.get("QUANTOPS_CONTROL_TOKEN", "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(timeout=httpx.Timeout(10.0, connect=2.0), headers=headers)
        self._policies: dict[str, RiskPolicySpec] = {}

    def list_strategies(self) -> list[StrategyRecord]:
        try:
            r = self._http.get(f"{self.url}/api/strategies")
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise StatusWriteError(f"GET {self.url}/api/strategies: {e}") from e
        data = r.json()
        pols = data.get("riskPolicies", {})
        self._policies = {n: RiskPolicySpec.model_validate(p) for n, p in pols.items()}
        return [_record(s["name"], s["spec"], s.get("status")) for s in data["strategies"]]

    def risk_policies(self) -> dict[str, RiskPolicySpec]:
        return dict(self._policies)

    def write_status(self, name: str, patch: dict[str, Any]) -> None:
        try:
            r = self._http.post(f"{self.url}/api/strategies/{name}/status", json={"patch": patch})
        except httpx.HTTPError as e:
            raise StatusWriteError(f"POST status of Strategy/{name}: {e}") from e
        if r.status_code >= 400:
            raise StatusWriteError(f"POST status of Strategy/{name}: HTTP {r.status_code} {r.text[:300]}")

    def claim(self, name: str, holder: str, ttl: float, fresh: float, now: float) -> tuple[bool, str]:
        """`quantops up` runs one process per Agent: nothing to share, every claim is granted."""
        return True, "single local replica"

    def release(self, name: str, holder: str, now: float) -> None:
        return None

    def close(self) -> None:
        self._http.close()


def _micro(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(s: str | None) -> float:
    if not s:
        return 0.0
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def claim_lease_name(strategy: str) -> str:
    """``qp-claim-<strategy>``, shortened with a hash to the 63 characters a name may have."""
    name = f"qp-claim-{strategy}"
    if len(name) <= 63:
        return name
    return f"{name[:54]}-{hashlib.sha256(strategy.encode()).hexdigest()[:8]}"


class KubeStrategyStatus:
    """Strategies and RiskPolicies of one namespace; status written through the status subresource."""

    def __init__(self, creds: KubeCredentials) -> None:
        self._http = httpx.Client(**creds.http_options())
        self.base = f"/apis/quantops.dev/v1alpha1/namespaces/{creds.namespace}"

    def _get(self, plural: str) -> list[dict[str, Any]]:
        try:
            r = self._http.get(f"{self.base}/{plural}")
        except httpx.HTTPError as e:
            raise StatusWriteError(f"list {plural}: {e}") from e
        if r.status_code >= 400:
            raise StatusWriteError(f"list {plural}: HTTP {r.status_code} {r.text[:300]}")
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    def list_strategies(self) -> list[StrategyRecord]:
        return [_record(i["metadata"]["name"], i["spec"], i.get("status")) for i in self._get("strategies")]

    def risk_policies(self) -> dict[str, RiskPolicySpec]:
        items = self._get("riskpolicies")
        return {i["metadata"]["name"]: RiskPolicySpec.model_validate(i["spec"]) for i in items}

    def write_status(self, name: str, patch: dict[str, Any]) -> None:
        try:
            r = self._http.patch(
                f"{self.base}/strategies/{name}/status",
                content=json.dumps({"status": patch}),
                headers={"Content-Type": "application/merge-patch+json"},
            )
        except httpx.HTTPError as e:
            raise StatusWriteError(f"PATCH Strategy/{name}/status: {e}") from e
        if r.status_code >= 400:
            raise StatusWriteError(f"PATCH Strategy/{name}/status: HTTP {r.status_code} {r.text[:300]}")

    # -- work-item claims: one Lease per strategy (verbs get/create/patch, as for heartbeats) -------
    def _leases(self) -> str:
        ns = self.base.rsplit("/", 1)[-1]
        return f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"

    def claim(self, name: str, holder: str, ttl: float, fresh: float, now: float) -> tuple[bool, str]:
        base, lease = self._leases(), claim_lease_name(name)
        try:
            r = self._http.get(f"{base}/{lease}")
            if r.status_code == 404:
                body = {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {
                        "name": lease, "labels": {"quantops.dev/pipeline-claim": "true"},
                        "annotations": {"quantops.dev/strategy": name, "quantops.dev/last-holder": holder},
                    },
                    "spec": {"holderIdentity": holder, "leaseDurationSeconds": max(1, int(ttl)),
                             "acquireTime": _micro(now), "renewTime": _micro(now)},
                }  # fmt: skip
                c = self._http.post(
                    base, content=json.dumps(body), headers={"Content-Type": "application/json"}
                )
                if c.status_code == 409:
                    return False, "claimed concurrently by another replica"
                if c.status_code >= 400:
                    raise StatusWriteError(f"create Lease {lease}: HTTP {c.status_code} {c.text[:300]}")
                return True, "unclaimed"
            if r.status_code >= 400:
                raise StatusWriteError(f"get Lease {lease}: HTTP {r.status_code} {r.text[:300]}")
            obj = r.json()
            spec, meta = obj.get("spec") or {}, obj["metadata"]
            view = ClaimView(
                spec.get("holderIdentity") or None,
                _epoch(spec.get("renewTime")),
                float(spec.get("leaseDurationSeconds") or 0),
                (meta.get("annotations") or {}).get("quantops.dev/last-holder"),
            )
            ok, why = may_claim(view, holder, now, fresh)
            if not ok:
                return False, why
            patch = {
                "metadata": {"resourceVersion": meta["resourceVersion"],
                             "annotations": {"quantops.dev/last-holder": holder}},
                "spec": {"holderIdentity": holder, "leaseDurationSeconds": max(1, int(ttl)),
                         "acquireTime": _micro(now), "renewTime": _micro(now)},
            }  # fmt: skip
            p = self._http.patch(
                f"{base}/{lease}", content=json.dumps(patch),
                headers={"Content-Type": "application/merge-patch+json"},
            )  # fmt: skip
        except httpx.HTTPError as e:
            raise StatusWriteError(f"claim Lease {lease}: {e}") from e
        if p.status_code == 409:
            return False, "claimed concurrently by another replica"
        if p.status_code >= 400:
            raise StatusWriteError(f"patch Lease {lease}: HTTP {p.status_code} {p.text[:300]}")
        return True, why

    def release(self, name: str, holder: str, now: float) -> None:
        """Mark the item done: no holder, renewTime = now, last holder = us (only our own claim)."""
        base, lease = self._leases(), claim_lease_name(name)
        try:
            r = self._http.get(f"{base}/{lease}")
            if r.status_code >= 400 or (r.json().get("spec") or {}).get("holderIdentity") != holder:
                return
            patch = {
                "metadata": {"resourceVersion": r.json()["metadata"]["resourceVersion"],
                             "annotations": {"quantops.dev/last-holder": holder}},
                "spec": {"holderIdentity": None, "renewTime": _micro(now)},
            }  # fmt: skip
            self._http.patch(
                f"{base}/{lease}", content=json.dumps(patch),
                headers={"Content-Type": "application/merge-patch+json"},
            )  # fmt: skip
        except httpx.HTTPError as e:
            raise StatusWriteError(f"release Lease {lease}: {e}") from e

    def close(self) -> None:
        self._http.close()


if TYPE_CHECKING:  # both satisfy the pipeline's store protocol (checked by mypy, no runtime cost)
    _local: StrategyStore = LocalStrategyStatus("", "")
    _kube: StrategyStore = KubeStrategyStatus(KubeCredentials("", "", None, ""))
