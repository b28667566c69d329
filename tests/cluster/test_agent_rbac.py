"""One ServiceAccount per Agent role, with exactly its verbs, on the real kube-apiserver (issue 16).

The namespace gets the agent ServiceAccounts, Roles and RoleBindings the Helm chart renders; each
role's token is made for the ServiceAccount the operator's Deployment builder puts into that role's
pods. Then, as each role:

- what its runtime does works — the real code paths, not a list of verbs: heartbeat Lease (apply,
  renew, delete), gate list + watch of Agents, Strategies and RiskPolicies; the trader's venue
  discovery (Service get), Events (create, then patch of the series), ``lastBudgetChange`` and
  single-writer Lease; the pipeline's Strategy status and work-item claims; the canary's venue
  discovery and NO_GO on the RiskPolicy with its Event. A verb dropped from a role fails here.
- what it must not do is refused with 403: the trader cannot promote a strategy
  (``strategies/status``) or lift a gate (``riskpolicies``); the venue simulator, supervisor and feed
  can write neither; the pipeline cannot touch a RiskPolicy; no role edits an Agent's spec, a
  Strategy's spec or reads a Secret.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from controlplane import ControlPlane, build_binaries

from quantops_api import Agent, Gate
from quantops_operator.resources import deployments
from quantops_trading.model.events import GateChanged
from quantops_trading.observability.kube_events import KubeEventRecorder, ObjectRef
from quantops_trading.risk.events import BudgetChanged
from quantops_trading.runtime.canary_role import KubeGateSetter
from quantops_trading.runtime.control import Beat, GateSnapshot, KubeControl, KubeCredentials
from quantops_trading.runtime.discovery import Venue, discover_venue
from quantops_trading.runtime.singleton import WriterLease
from quantops_trading.runtime.strategy_status import KubeStrategyStatus

from .conftest import get, unique

pytestmark = pytest.mark.cluster

CHART = Path(__file__).resolve().parents[2] / "helm" / "quantops"
ROLES = ("trader", "pipeline", "supervisor", "feed", "venue-sim", "canary")
QD = "/apis/quantops.dev/v1alpha1/namespaces/{ns}"
MERGE = "application/merge-patch+json"


def _account_of(role: str) -> str:
    """The ServiceAccount the operator puts into the pods of an Agent of ``role``."""
    agent = Agent.model_validate(
        {"apiVersion": "quantops.dev/v1alpha1", "kind": "Agent",
         "metadata": {"name": f"a-{role}", "uid": "u"}, "spec": {"role": role}}
    )  # fmt: skip
    return str(deployments.deployment(agent, 1)["spec"]["template"]["spec"]["serviceAccountName"])


def _chart_agent_rbac(ns: str) -> list[dict[str, Any]]:
    """The agent ServiceAccounts, Roles and RoleBindings of `helm template` in namespace ``ns``."""
    res = subprocess.run(
        [str(build_binaries() / "helm"), "template", "qo", str(CHART), "-n", ns],
        text=True, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    docs = [d for d in yaml.safe_load_all(res.stdout) if d]
    return [
        d
        for d in docs
        if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")
        and d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "agent"
    ]


class Namespace:
    def __init__(self, plane: ControlPlane, ns: str, tokens: dict[str, str]) -> None:
        self.plane, self.ns, self.tokens = plane, ns, tokens

    def creds(self, role: str) -> KubeCredentials:
        return KubeCredentials(self.plane.server, self.tokens[role], str(self.plane.ca_file), self.ns)

    def admin_get(self, kind: str, name: str) -> dict[str, Any] | None:
        return get(self.plane, self.ns, kind, name)


@pytest.fixture(scope="module")
def agent_ns(crds_installed: ControlPlane) -> Namespace:
    plane, ns = crds_installed, unique("agent-rbac")
    k = plane.kubectl
    k("create", "namespace", ns)
    k("-n", ns, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                     "items": _chart_agent_rbac(ns)}))  # fmt: skip
    objects: list[dict[str, Any]] = [
        {"apiVersion": "quantops.dev/v1alpha1", "kind": "RiskPolicy", "metadata": {"name": "global"},
         "spec": {"gate": "GO"}},
        {"apiVersion": "quantops.dev/v1alpha1", "kind": "Strategy", "metadata": {"name": "momo"},
         "spec": {"entrypoint": "quantops_trading.strategies.momentum:Momentum",
                  "params": {"fast": 2, "slow": 3}, "pairs": ["BTC/USDT"]}},
        {"apiVersion": "quantops.dev/v1alpha1", "kind": "Agent", "metadata": {"name": "venue"},
         "spec": {"role": "venue-sim", "config": {"venue": {"name": "sim"}}}},  # a venue-sim needs one
        # what the operator creates for the venue-sim Agent: the Service agents discover it by
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "venue-agent"},
         "spec": {"type": "ClusterIP", "selector": {"quantops.dev/agent": "venue"},
                  "ports": [{"name": "venue", "port": deployments.VENUE_PORT}]}},
    ]  # fmt: skip
    for obj in objects:
        k("-n", ns, "apply", "-f", "-", input=json.dumps(obj))
    tokens = {
        role: k("-n", ns, "create", "token", _account_of(role), "--duration=1h").stdout.strip()
        for role in ROLES
    }
    return Namespace(plane, ns, tokens)


# -- refused: 403 outside a role's verbs -----------------------------------------------------------
PROMOTE = ("PATCH", "strategies/momo/status", {"status": {"stage": "HOT"}})
LIFT_GATE = ("PATCH", "riskpolicies/global", {"spec": {"gate": "GO"}})
BUDGET = ("PATCH", "riskpolicies/global/status", {"status": {"lastBudgetChange": {"explanation": "x"}}})
EVENT = ("POST", "/apis/events.k8s.io/v1/namespaces/{ns}/events", {
    "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"generateName": "x."},
    "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "x", "reportingInstance": "x",
    "action": "Decided", "reason": "X", "type": "Normal",
    "regarding": {"apiVersion": "quantops.dev/v1alpha1", "kind": "RiskPolicy", "name": "global"},
})  # fmt: skip
CORE_EVENT = ("POST", "/api/v1/namespaces/{ns}/events", {
    "apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "x."},
    "involvedObject": {"kind": "RiskPolicy", "name": "global"}, "reason": "X", "message": "x",
})  # fmt: skip
VENUE_SERVICE = ("GET", "/api/v1/namespaces/{ns}/services/venue-agent", None)
EVERY_ROLE_REFUSED = [
    ("PATCH", "agents/venue", {"spec": {"image": "evil:1"}}),  # what the venue-sim pods run
    ("PATCH", "strategies/momo", {"spec": {"desiredStage": "HOT"}}),
    ("DELETE", "riskpolicies/global", None),
    ("PUT", "riskpolicies/global", {"apiVersion": "quantops.dev/v1alpha1", "kind": "RiskPolicy", "spec": {}}),
    ("PATCH", "agents/venue/status", {"status": {"phase": "Running"}}),
    ("GET", "/api/v1/namespaces/{ns}/secrets", None),
    ("PATCH", "/api/v1/namespaces/{ns}/services/venue-agent", {"spec": {"externalIPs": ["1.2.3.4"]}}),
    CORE_EVENT,  # the runtime writes events.k8s.io/v1 only
]
REFUSED: dict[str, list[tuple[str, str, dict[str, Any] | None]]] = {
    "trader": [PROMOTE, LIFT_GATE],
    "pipeline": [LIFT_GATE, BUDGET, EVENT, VENUE_SERVICE],
    "supervisor": [PROMOTE, LIFT_GATE, BUDGET, EVENT, VENUE_SERVICE],
    "feed": [PROMOTE, LIFT_GATE, BUDGET, EVENT, VENUE_SERVICE],
    "venue-sim": [PROMOTE, LIFT_GATE, BUDGET, EVENT, VENUE_SERVICE],
    "canary": [PROMOTE, BUDGET],
}
CASES = [(role, *call) for role in ROLES for call in [*REFUSED[role], *EVERY_ROLE_REFUSED]]


def _url(ns: str, path: str) -> str:
    return path.format(ns=ns) if path.startswith("/") else f"{QD.format(ns=ns)}/{path}"


@pytest.mark.parametrize(
    ("role", "method", "path", "body"), CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES]
)
def test_a_role_is_refused_outside_its_verbs(
    agent_ns: Namespace, role: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    headers = {"Content-Type": MERGE if method == "PATCH" else "application/json"}
    with httpx.Client(**agent_ns.creds(role).http_options()) as http:
        r = http.request(
            method, _url(agent_ns.ns, path), content=json.dumps(body) if body else None, headers=headers
        )
    who = f"{role} ({_account_of(role)})"
    assert r.status_code == 403, f"{who}: {method} {path} → {r.status_code} {r.text[:300]}"


# -- allowed: what each role's runtime does ---------------------------------------------------------
async def _snapshots(ctl: KubeControl, n: int) -> list[GateSnapshot]:
    """The list snapshot plus one per established watch (a refused watch raises ControlUnavailable)."""
    gen = ctl.watch_gates(max_silence=5)
    try:
        return [await asyncio.wait_for(anext(gen), 15) for _ in range(n)]
    finally:
        await gen.aclose()  # type: ignore[attr-defined]  # an async generator


async def _venue(ctl: KubeControl) -> Venue | None:
    stopping = asyncio.Event()
    asyncio.get_running_loop().call_later(10, stopping.set)  # discovery retries until it finds it
    return await discover_venue(ctl, stopping=stopping, retry_seconds=0.2)


async def _runtime_common(agent_ns: Namespace, role: str) -> None:
    """What KubeControl does for every role: heartbeat Lease (apply-create, renew, delete), gates."""
    agent = f"rbac-{role}"
    ctl = KubeControl(agent_ns.creds(role), agent, "0", ["momo"])
    try:
        await ctl.heartbeat(Beat(queue_length=1))  # creates the Lease (server-side apply)
        await ctl.heartbeat(Beat(queue_length=2))  # renews it
        lease = await asyncio.to_thread(agent_ns.admin_get, "lease", f"{agent}-0")
        assert lease is not None and lease["metadata"]["annotations"]["quantops.dev/queue-length"] == "2"
        snaps = await _snapshots(ctl, 4)  # list of the three kinds, then each kind's watch
        assert snaps[0].gates["RiskPolicy/global"] in ("GO", "PAUSE") and "Strategy/momo" in snaps[0].gates
        assert [s.version for s in snaps[1:]] == ["rewatch"] * 3
        await ctl.release()
        assert await asyncio.to_thread(agent_ns.admin_get, "lease", f"{agent}-0") is None
    finally:
        await ctl.close()


async def _runtime_trader(agent_ns: Namespace) -> None:
    creds = agent_ns.creds("trader")
    ctl = KubeControl(creds, "trader", "0", ["momo"])
    rec = KubeEventRecorder(creds, agent="trader", instance="trader-0")
    try:
        venue = await _venue(ctl)
        assert venue is not None and venue.url.endswith(f":{deployments.VENUE_PORT}"), venue
        budget = BudgetChanged(
            ts_ns=time.time_ns(), total=1000.0, allocations={"momo": 1.0}, changes={"momo": (0.0, 1.0)},
            explanation="momo 0.00 → 1.00", report={},
        )  # fmt: skip
        await rec.publish(budget)  # RiskPolicy status lastBudgetChange + an Event
        flip = GateChanged(ts_ns=1, scope="strategy/momo", old="GO", new="PAUSE", actor="risk", reason="dd")
        await rec.publish(flip)
        await rec.publish(flip)  # the same again: a patch of the Event's series
        assert rec.errors == []
        writer = WriterLease(ctl, "trader", "trader-0")
        assert await writer.try_acquire(), writer.last_error  # create
        assert await writer.try_acquire(), writer.last_error  # renew (patch)
        await writer.release()
        lease = await asyncio.to_thread(agent_ns.admin_get, "lease", "trader-writer")
        assert lease is not None and not lease["spec"].get("holderIdentity")
    finally:
        await rec.close()
        await ctl.close()
    policy = await asyncio.to_thread(agent_ns.admin_get, "riskpolicy", "global")
    assert policy is not None and policy["status"]["lastBudgetChange"]["explanation"] == "momo 0.00 → 1.00"


def _runtime_pipeline(agent_ns: Namespace) -> None:
    store = KubeStrategyStatus(agent_ns.creds("pipeline"))
    try:
        assert [r.name for r in store.list_strategies()] == ["momo"]
        assert "global" in store.risk_policies()
        store.write_status("momo", {"stage": "WARM"})
        now = time.time()
        assert store.claim("momo", "pipeline-0", 60, 30, now) == (True, "unclaimed")  # create
        store.release("momo", "pipeline-0", now + 1)  # patch
        assert store.claim("momo", "pipeline-0", 60, 0, now + 2)[0]  # a new round: patch
    finally:
        store.close()
    strategy = agent_ns.admin_get("strategy", "momo")
    assert strategy is not None and strategy["status"]["stage"] == "WARM"


async def _runtime_canary(agent_ns: Namespace) -> None:
    creds = agent_ns.creds("canary")
    ctl = KubeControl(creds, "canary", "0", [])
    rec = KubeEventRecorder(creds, agent="canary", instance="canary-0", controller="quantops.dev/canary")
    setter = KubeGateSetter(creds, "canary/canary", recorder=rec)
    try:
        venue = await _venue(ctl)
        assert venue is not None, "the canary could not discover the venue"
        before = await setter.read("RiskPolicy/global")
        raised = await setter.set("RiskPolicy/global", Gate.PAUSE, "canary NO_GO (test)", base=before,
                                  event="CanaryNoGo", warning=True)  # fmt: skip
        assert raised.new is Gate.PAUSE and not raised.note.startswith("event not recorded"), raised.note
        ours = await setter.read("RiskPolicy/global")
        lifted = await setter.set("RiskPolicy/global", before.gate, "canary recovered", base=ours,
                                  event="CanaryRecovered", warning=False)  # fmt: skip
        assert not lifted.note.startswith("event not recorded"), lifted.note
        ref = ObjectRef("RiskPolicy", "global")
        first = await rec.record(ref, "CanaryNoGo", "same note")
        assert await rec.record(ref, "CanaryNoGo", "same note") == first  # the series patched
    finally:
        await setter.close()  # closes the recorder too
        await ctl.close()


@pytest.mark.parametrize("role", ROLES)
def test_a_role_can_do_what_its_runtime_does(agent_ns: Namespace, role: str) -> None:
    asyncio.run(_runtime_common(agent_ns, role))
    if role == "trader":
        asyncio.run(_runtime_trader(agent_ns))
    elif role == "pipeline":
        _runtime_pipeline(agent_ns)
    elif role == "canary":
        asyncio.run(_runtime_canary(agent_ns))


def test_each_role_runs_under_its_own_service_account(agent_ns: Namespace) -> None:
    accounts = {role: _account_of(role) for role in ROLES}
    assert len(set(accounts.values())) == len(ROLES), accounts
    for role, account in accounts.items():
        sa = agent_ns.admin_get("serviceaccount", account)
        assert sa is not None, f"the chart does not create {account} (role {role})"
