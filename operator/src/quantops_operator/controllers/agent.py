"""Agent controller: every trigger (create, update, resume, resync timer) runs the same reconcile.

gather (indexes + a few GETs) → reconcile.agent.plan (pure) → apply children → status if changed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from quantops_api import Agent, AgentStatus, Condition
from quantops_api.manifests import field_errors
from quantops_api.meta import get_condition
from quantops_operator.bodies import model_input
from quantops_operator.kube import Kube, KubeError
from quantops_operator.reconcile.agent import LeaseInfo, Observed, PodInfo, invalid_spec_status, plan
from quantops_operator.resources import deployments, names
from quantops_operator.settings import AGENT_IMAGE, RESYNC_SECONDS, STATE_VOLUME

AGENTS = ("quantops.dev", "v1alpha1", "agents")


@kopf.index(*AGENTS)
def agent_index(namespace: str, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any) -> dict[Any, Any]:
    ready = get_condition(_conditions(status), "Ready")
    return {
        (namespace, name): (tuple(spec.get("dependsOn") or ()), ready is not None and ready.status == "True")
    }


def _conditions(status: Any) -> list[Condition]:
    out = []
    for c in (status or {}).get("conditions") or []:
        try:
            out.append(Condition.model_validate(c))
        except ValueError:
            continue
    return out


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def lease_info(lease: dict[str, Any]) -> LeaseInfo:
    ann = lease.get("metadata", {}).get("annotations") or {}
    spec = lease.get("spec") or {}
    return LeaseInfo(
        holder=spec.get("holderIdentity") or lease["metadata"]["name"],
        renew_time=_parse_time(spec.get("renewTime")),
        queue_length=int(ann.get(names.ANN_QUEUE, 0) or 0),
        open_orders=int(ann.get(names.ANN_OPEN_ORDERS, 0) or 0),
        healthy=ann.get(names.ANN_HEALTH, "ok") == "ok",
    )


def pod_info(pod: dict[str, Any]) -> PodInfo:
    """A container the kubelet is restarting (terminated a moment ago) is not "crashing": the
    kubelet restarts it itself. Only its CrashLoopBackOff — the kubelet's restarts not helping —
    is worth a restart of the pod."""
    st = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    crashing = any(
        (cs.get("state", {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"
        for cs in st.get("containerStatuses") or []
    )
    return PodInfo(
        meta["name"],
        st.get("phase", "Pending"),
        conds.get("Ready") == "True",
        crashing,
        template_hash=(meta.get("annotations") or {}).get(deployments.ANN_TEMPLATE_HASH),
        deleting=bool(meta.get("deletionTimestamp")),
    )


async def reconcile_agent(
    body: Mapping[str, Any],
    memo: kopf.Memo,
    agent_index: kopf.Index[Any, Any],
    policy_views: kopf.Index[Any, Any],
    strategy_names: kopf.Index[Any, Any],
    ensure_children: bool = False,
) -> dict[str, Any] | None:
    """gather → plan → apply children → events; returns the new status when it changed.

    `ensure_children` (spec changes, create, resume — and their retries) re-applies the ConfigMap and
    Service too; resyncs converge the Deployment, and re-apply the ConfigMap first whenever they change
    the Deployment (its template carries the config hash).
    """
    lock: asyncio.Lock = memo["locks"].setdefault(body["metadata"]["uid"], asyncio.Lock())
    async with lock:
        kube: Kube = memo["kube"]
        try:
            agent = Agent.from_wire(model_input(body))
        except ValidationError as e:
            errors = field_errors(e)
            raw = dict(body.get("status") or {})
            try:
                old = AgentStatus.model_validate(raw) if raw else None
            except ValidationError:
                old = None
            status = invalid_spec_status(
                old, errors, body["metadata"].get("generation"), dt.datetime.now(dt.UTC)
            )
            wire = status.to_wire()
            if wire == raw:
                return None
            kopf.event(dict(body), type="Warning", reason="InvalidSpec", message="; ".join(errors))
            return wire
        ns = body["metadata"]["namespace"]
        graph: dict[str, list[str]] = {}
        ready: dict[str, bool] = {}
        for (ans, aname), entries in agent_index.items():
            if ans == ns:
                for deps, is_ready in entries:
                    graph[aname], ready[aname] = list(deps), is_ready
        global_gate = next((v.gate for v in policy_views.get(ns, []) if v.name == "global"), None)
        dep, leases, pods = await asyncio.gather(
            kube.get_deployment(ns, names.deployment_name(agent.name)),
            kube.list_leases(ns, agent.name),
            kube.list_pods(ns, agent.name),
        )
        obs = Observed(
            agent=agent,
            graph=graph,
            ready=ready,
            global_gate=global_gate,
            deployment=dep,
            leases=tuple(lease_info(x) for x in leases),
            pods=tuple(pod_info(p) for p in pods),
            image=AGENT_IMAGE,
            strategies=frozenset(strategy_names.get(ns, [])),
            state=STATE_VOLUME,
            api_contact_since=kube.contact_since,
        )
        p = plan(obs, dt.datetime.now(dt.UTC))
        if p.deployment is not None:
            same = (
                deployments.current_template_hash(dep) == deployments.current_template_hash(p.deployment)
                and (dep or {}).get("spec", {}).get("replicas") == p.deployment["spec"]["replicas"]
            )
            try:
                # The ConfigMap before any Deployment change: the pod template carries the config
                # hash, so a roll triggered from any path (a resync too) must find the new config.
                if dep is None or ensure_children or not same:
                    await kube.apply(ns, deployments.config_map(agent))
                    if deployments.has_state_claim(agent, STATE_VOLUME):
                        await kube.apply(ns, deployments.state_claim(agent, STATE_VOLUME))
                if not same:
                    await kube.apply(ns, p.deployment)
                if dep is None or ensure_children:  # after the Deployment: the Service never blocks it
                    await kube.apply(ns, deployments.service(agent))
            except KubeError as e:
                kopf.event(dict(body), type="Warning", reason="ApplyFailed", message=str(e))
                raise kopf.TemporaryError(f"applying children of Agent/{agent.name}: {e}", delay=5) from e
        for ev in p.events:
            kopf.event(dict(body), type=ev.type, reason=ev.reason, message=ev.message)
        return status_patch(dict(body.get("status") or {}), p.status.to_wire())


def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The merge patch that turns ``old`` into ``new``; None when they are equal.

    A field the plan cleared (``startedAt`` after a recycle, ``backoffUntil`` after a reset) is
    absent from ``new``; a merge patch leaves absent keys alone, so it must say null. Seen on a
    real node: without it ``startedAt`` kept its old value, every reconcile found the uptime past
    ``maxUptimeSeconds`` and recycled the trader again, pod after pod.
    """
    if new == old:
        return None
    return {**new, **{k: None for k in old if k not in new}}


async def reconcile_named(
    ns: str,
    name: str,
    memo: kopf.Memo,
    agent_index: kopf.Index[Any, Any],
    policy_views: kopf.Index[Any, Any],
    strategy_names: kopf.Index[Any, Any],
) -> None:
    """Reconcile an Agent because one of its children changed (not through kopf's own Agent queue)."""
    kube: Kube = memo["kube"]
    body = await kube.get_agent(ns, name)
    if body is None:
        return
    status = await reconcile_agent(body, memo, agent_index, policy_views, strategy_names)
    if status is not None:
        await kube.patch_agent_status(ns, name, status)


@kopf.on.event("apps", "v1", "deployments", labels={names.LABEL_MANAGED: "quantops-operator"})
async def child_changed(
    event: kopf.RawEvent,
    namespace: str,
    labels: Mapping[str, str],
    memo: kopf.Memo,
    agent_index: kopf.Index[Any, Any],
    policy_views: kopf.Index[Any, Any],
    strategy_names: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """A Deployment's rollout moved: the Agent's readiness may have changed — do not wait for the resync."""
    if event["type"] in ("ADDED", "MODIFIED") and names.LABEL_AGENT in labels:
        await reconcile_named(
            namespace, labels[names.LABEL_AGENT], memo, agent_index, policy_views, strategy_names
        )


@kopf.on.event("coordination.k8s.io", "v1", "leases", labels={names.LABEL_AGENT: kopf.PRESENT})
async def first_heartbeat(
    event: kopf.RawEvent,
    namespace: str,
    labels: Mapping[str, str],
    memo: kopf.Memo,
    agent_index: kopf.Index[Any, Any],
    policy_views: kopf.Index[Any, Any],
    strategy_names: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """A replica's first heartbeat (renewals are read at each reconcile, not pushed)."""
    if event["type"] == "ADDED":
        await reconcile_named(
            namespace, labels[names.LABEL_AGENT], memo, agent_index, policy_views, strategy_names
        )


@kopf.on.resume(*AGENTS)
@kopf.on.create(*AGENTS)
@kopf.on.update(*AGENTS, field="spec")
async def agent_changed(
    body: kopf.Body,
    memo: kopf.Memo,
    patch: kopf.Patch,
    agent_index: kopf.Index[Any, Any],
    policy_views: kopf.Index[Any, Any],
    strategy_names: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    status = await reconcile_agent(
        body, memo, agent_index, policy_views, strategy_names, ensure_children=True
    )
    if status is not None:
        patch.status.update(status)


@kopf.timer(*AGENTS, interval=RESYNC_SECONDS, idle=0)
async def agent_resync(
    body: kopf.Body,
    memo: kopf.Memo,
    patch: kopf.Patch,
    agent_index: kopf.Index[Any, Any],
    policy_views: kopf.Index[Any, Any],
    strategy_names: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    status = await reconcile_agent(body, memo, agent_index, policy_views, strategy_names)
    if status is not None:
        patch.status.update(status)
