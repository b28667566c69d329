"""Agent controller: every trigger (create, update, resume, resync timer) runs the same reconcile.

gather (kopf indexes, no API reads) → reconcile.agent.plan (pure) → apply children → status if changed.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import kopf
from pydantic import ValidationError

from quantops_api import Agent, AgentStatus, Condition
from quantops_api.manifests import field_errors
from quantops_api.meta import get_condition
from quantops_api.v1alpha1.conditions import ConditionType, EventReason
from quantops_operator.bodies import model_input
from quantops_operator.kube import Kube, KubeError
from quantops_operator.reconcile.agent import LeaseInfo, Observed, PodInfo, invalid_spec_status, plan
from quantops_operator.resources import deployments, names
from quantops_operator.settings import AGENT_IMAGE, RESYNC_SECONDS, STATE_VOLUME

AGENTS = ("quantops.dev", "v1alpha1", "agents")


@kopf.index(*AGENTS)
async def agent_index(
    namespace: str, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[Any, Any]:
    ready = get_condition(_conditions(status), ConditionType.READY)
    return {
        (namespace, name): (tuple(spec.get("dependsOn") or ()), ready is not None and ready.status == "True")
    }


@kopf.index(*AGENTS)
async def agent_bodies(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """The Agent as last seen: a child's event reconciles its Agent without fetching it."""
    return {(namespace, name): copy.deepcopy(model_input(body))}


@kopf.index("apps", "v1", "deployments", labels={names.LABEL_MANAGED: "quantops-operator"})
async def agent_deployments(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    agent = labels.get(names.LABEL_AGENT)
    return {(namespace, agent): deployment_view(body)} if agent else {}


@kopf.index("v1", "pods", labels={names.LABEL_AGENT: kopf.PRESENT})
async def agent_pods(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {(namespace, labels[names.LABEL_AGENT]): pod_info(body)}


@kopf.index("coordination.k8s.io", "v1", "leases", labels={names.LABEL_AGENT: kopf.PRESENT})
async def agent_leases(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {(namespace, labels[names.LABEL_AGENT]): lease_info(body)}


@dataclass(frozen=True)
class Views:
    """kopf's in-memory indexes, kept current by its watches: what a reconcile observes.

    Reading them instead of GETting a Deployment and LISTing Pods and Leases per reconcile keeps a
    reconcile free of API round-trips (a label-selected LIST costs the API server the whole
    namespace's objects: O(N) per Agent, O(N²) per resync of N Agents)."""

    agents: kopf.Index[Any, Any]
    bodies: kopf.Index[Any, Any]
    policies: kopf.Index[Any, Any]
    strategies: kopf.Index[Any, Any]
    deployments: kopf.Index[Any, Any]
    pods: kopf.Index[Any, Any]
    leases: kopf.Index[Any, Any]

    @classmethod
    def of(cls, kw: Mapping[str, Any]) -> Views:
        return cls(
            kw["agent_index"],
            kw["agent_bodies"],
            kw["policy_views"],
            kw["strategy_names"],
            kw["agent_deployments"],
            kw["agent_pods"],
            kw["agent_leases"],
        )

    def dependencies(
        self, ns: str, name: str, depends_on: Iterable[str]
    ) -> tuple[dict[str, list[str]], dict[str, bool]]:
        """The Agent and every Agent it depends on, transitively (graph), and whether each is Ready.

        Enough for the ordering decision: a cycle through this Agent, a missing dependency and an
        unready one are all found in this part of the graph (no walk over the whole namespace)."""
        graph: dict[str, list[str]] = {name: list(depends_on)}
        ready: dict[str, bool] = {}
        todo = list(depends_on)
        while todo:
            dep = todo.pop()
            if dep in graph:
                continue
            for deps, is_ready in self.agents.get((ns, dep), ()):
                graph[dep], ready[dep] = list(deps), is_ready
                todo.extend(deps)
        return graph, ready


def deployment_view(dep: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a Deployment the plan reads (template hash, replicas, status, creation time)."""
    meta = dep.get("metadata") or {}
    ann = meta.get("annotations") or {}
    return {
        "metadata": {
            "name": meta.get("name"),
            "creationTimestamp": meta.get("creationTimestamp"),
            "annotations": {k: ann[k] for k in (deployments.ANN_TEMPLATE_HASH,) if k in ann},
        },
        "spec": {"replicas": (dep.get("spec") or {}).get("replicas")},
        "status": dict(dep.get("status") or {}),
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
    body: Mapping[str, Any], memo: kopf.Memo, views: Views, ensure_children: bool = False
) -> None:
    """gather (indexes only) → plan → apply children → events → status, written only when it changed.

    `ensure_children` (spec changes, create, resume — and their retries) re-applies the ConfigMap and
    Service too; resyncs converge the Deployment, and re-apply the ConfigMap first whenever they change
    the Deployment (its template carries the config hash).

    The operator is the only writer of Agent status, and it writes it here, under the Agent's lock.
    The status it last wrote (``memo["statuses"]``, recorded once the API accepted it) is both the
    next plan's input and what "changed" is judged against: a body from a watch can be a moment —
    under load, seconds — behind that write, and planning from it again would, say, restart an agent
    twice, and comparing with it would write the same status again and again.
    """
    uid = body["metadata"]["uid"]
    lock: asyncio.Lock = memo["locks"].setdefault(uid, asyncio.Lock())
    queued: set[str] = memo["queued"]
    if not ensure_children:
        if uid in queued:
            return  # one is already waiting for the lock: it reads the indexes when it runs, so it
            # sees this change too (a rollout's burst of Deployment events is one reconcile, not six)
        queued.add(uid)
    async with lock:
        if not ensure_children:
            queued.discard(uid)
        kube: Kube = memo["kube"]
        known: dict[str, Any] = memo["statuses"].get(uid) or dict(body.get("status") or {})
        wire = await _reconcile_locked(body, memo, views, kube, known, ensure_children)
        patch = status_patch(known, wire)
        if patch is not None:
            meta = body["metadata"]
            try:
                await kube.patch_agent_status(meta["namespace"], meta["name"], patch)
            except (KubeError, aiohttp.ClientError, TimeoutError) as e:  # not recorded: sent again
                raise kopf.TemporaryError(f"status of Agent/{meta['name']}: {e!r}", delay=5) from e
        memo["statuses"][uid] = wire


async def _reconcile_locked(
    body: Mapping[str, Any],
    memo: kopf.Memo,
    views: Views,
    kube: Kube,
    known: dict[str, Any],
    ensure_children: bool,
) -> dict[str, Any]:
    """The reconcile proper; returns the status to hold (wire form)."""
    try:
        agent = Agent.from_wire({**model_input(body), "status": known or None})
    except ValidationError as e:
        errors = field_errors(e)
        try:
            old = AgentStatus.model_validate(known) if known else None
        except ValidationError:
            old = None
        status = invalid_spec_status(old, errors, body["metadata"].get("generation"), dt.datetime.now(dt.UTC))
        wire = status.to_wire()
        if wire != known:
            kopf.event(dict(body), type="Warning", reason=EventReason.INVALID_SPEC, message="; ".join(errors))
        return wire
    ns = body["metadata"]["namespace"]
    graph, ready = views.dependencies(ns, agent.name, agent.spec.depends_on)
    global_gate = next((v.gate for v in views.policies.get(ns, []) if v.name == "global"), None)
    dep: dict[str, Any] | None = next(iter(views.deployments.get((ns, agent.name), ())), None)
    obs = Observed(
        agent=agent,
        graph=graph,
        ready=ready,
        global_gate=global_gate,
        deployment=dep,
        leases=tuple(views.leases.get((ns, agent.name), ())),
        pods=tuple(views.pods.get((ns, agent.name), ())),
        image=AGENT_IMAGE,
        strategies=frozenset(views.strategies.get(ns, [])),
        state=STATE_VOLUME,
        api_contact_since=kube.contact_since,
    )
    now = dt.datetime.now(dt.UTC)
    p = plan(obs, now)
    if any(e.reason == EventReason.RESTARTING for e in p.events):
        # A restart is destructive, and the lease index is only as fresh as this operator's watch
        # processing: a starved operator saw heartbeats 50 s old that the API server had fresh
        # (real node, 25 Agents on 2 cores). Confirm with the API's Leases before restarting.
        try:
            fresh = tuple(lease_info(x) for x in await kube.list_leases(ns, agent.name))
        except (KubeError, aiohttp.ClientError, TimeoutError) as e:
            raise kopf.TemporaryError(f"reading the Leases of Agent/{agent.name}: {e!r}", delay=5) from e
        p = plan(dataclasses.replace(obs, leases=fresh), now)
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
            # The Deployment and the Service side by side: one round-trip, and a failing
            # Service never holds the Deployment back.
            writes = [kube.apply(ns, p.deployment)] if not same else []
            if dep is None or ensure_children:
                writes.append(kube.apply(ns, deployments.service(agent)))
            for result in await asyncio.gather(*writes, return_exceptions=True):
                if isinstance(result, BaseException):
                    raise result
        except (KubeError, aiohttp.ClientError, TimeoutError) as e:
            # retried in 5 s (kopf would wait 60 s for any other exception)
            kopf.event(dict(body), type="Warning", reason=EventReason.APPLY_FAILED, message=repr(e))
            raise kopf.TemporaryError(f"applying children of Agent/{agent.name}: {e!r}", delay=5) from e
    for ev in p.events:
        kopf.event(dict(body), type=ev.type, reason=ev.reason, message=ev.message)
    return p.status.to_wire()


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


async def reconcile_named(ns: str, name: str, memo: kopf.Memo, views: Views) -> None:
    """Reconcile an Agent because one of its children changed (not through kopf's own Agent queue)."""
    body = views.bodies.get((ns, name))
    if not body:
        return
    await reconcile_agent(next(iter(body)), memo, views)


@kopf.on.event("apps", "v1", "deployments", labels={names.LABEL_MANAGED: "quantops-operator"})
async def child_changed(
    event: kopf.RawEvent, namespace: str, labels: Mapping[str, str], memo: kopf.Memo, **kw: Any
) -> None:
    """A Deployment's rollout moved: the Agent's readiness may have changed — do not wait for the resync."""
    if event["type"] in ("ADDED", "MODIFIED") and names.LABEL_AGENT in labels:
        await reconcile_named(namespace, labels[names.LABEL_AGENT], memo, Views.of(kw))


@kopf.on.event("coordination.k8s.io", "v1", "leases", labels={names.LABEL_AGENT: kopf.PRESENT})
async def first_heartbeat(
    event: kopf.RawEvent, namespace: str, labels: Mapping[str, str], memo: kopf.Memo, **kw: Any
) -> None:
    """A replica's first heartbeat (renewals are read at each reconcile, from the lease index)."""
    if event["type"] == "ADDED":
        await reconcile_named(namespace, labels[names.LABEL_AGENT], memo, Views.of(kw))


@kopf.on.resume(*AGENTS)
@kopf.on.create(*AGENTS)
@kopf.on.update(*AGENTS, field="spec")
async def agent_changed(body: kopf.Body, memo: kopf.Memo, **kw: Any) -> None:
    await reconcile_agent(body, memo, Views.of(kw), ensure_children=True)


def _spread(**_: Any) -> float:
    """The first resync one interval after the create (or resume) handler's own reconcile, spread
    at random over the next, so the resyncs of Agents created together do not run in one burst —
    nor during it, while their creation is still being handled."""
    return RESYNC_SECONDS + random.uniform(0, RESYNC_SECONDS)


@kopf.timer(*AGENTS, interval=RESYNC_SECONDS, idle=0, initial_delay=_spread)
async def agent_resync(body: kopf.Body, memo: kopf.Memo, **kw: Any) -> None:
    await reconcile_agent(body, memo, Views.of(kw))
