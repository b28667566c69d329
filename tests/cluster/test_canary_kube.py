"""The canary's NO_GO on Kubernetes: :class:`KubeGateSetter` as the agent's ServiceAccount against
the real API server.

A namespace with the canary role's Role (``quantops_operator.agent_rbac.rules("canary")``, what the
chart renders: the common part plus ``patch`` on ``riskpolicies`` and Events), a token for
``quantops-agent-canary``, and everything read back from the API:
``spec.gate``, the ``gate-changed-by``/``gate-reason`` annotations, the field manager that owns
``spec.gate``, the Kubernetes Event; a kubectl patch by a person is never read as the canary's own
write, and a stale write is refused (resourceVersion precondition). Without ``patch`` the setter
says which verb is missing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from controlplane import ControlPlane

from quantops_api import Gate
from quantops_trading.observability.kube_events import KubeEventRecorder
from quantops_trading.runtime.canary_policy import Cause, Keep, Lift, NoGoLatch, Raise, Release
from quantops_trading.runtime.canary_role import (
    GATE_CHANGED_BY,
    GATE_REASON,
    GateConflict,
    GateSetError,
    KubeGateSetter,
)
from quantops_trading.runtime.control import KubeCredentials

from .conftest import agent_role_token, get, unique

pytestmark = pytest.mark.cluster

WHO = "canary/canary"
G = "RiskPolicy/global"


def _namespace_as_agent(
    plane: ControlPlane, rules: list[dict[str, Any]] | None = None, *, server_side: bool = False
) -> tuple[str, KubeCredentials]:
    """A namespace and the canary role's credentials: its Role from agent_rbac, or ``rules``."""
    ns = unique("canary")
    k = plane.kubectl
    k("create", "namespace", ns)
    token = agent_role_token(plane, ns, "canary", rules)
    policy = {"apiVersion": "quantops.dev/v1alpha1", "kind": "RiskPolicy", "metadata": {"name": "global"},
              "spec": {"gate": "GO"}}  # fmt: skip
    k("-n", ns, "apply", *(["--server-side"] if server_side else []), "-f", "-", input=json.dumps(policy))
    return ns, KubeCredentials(plane.server, token, str(plane.ca_file), ns)


def _person_sets(plane: ControlPlane, ns: str, gate: str, reason: str) -> None:
    """What ``quantops gate --kube`` does: a kubectl merge patch of spec.gate and the reason."""
    patch = {"metadata": {"annotations": {GATE_REASON: reason}}, "spec": {"gate": gate}}
    plane.kubectl("-n", ns, "patch", "riskpolicy", "global", "--type=merge", "-p", json.dumps(patch))


def test_the_canary_raises_and_lifts_its_no_go_on_the_riskpolicy(crds_installed: ControlPlane) -> None:
    plane = crds_installed
    # applied server-side (the manager "kubectl" owns spec.gate by Apply): the canary's Update takes it
    ns, creds = _namespace_as_agent(plane, server_side=True)
    clock = [100.0]
    latch = NoGoLatch(G, Gate.PAUSE, WHO, recover_after=2, clock=lambda: clock[0])

    async def scenario() -> None:
        rec = KubeEventRecorder(creds, agent="canary", instance="canary-0", controller="quantops.dev/canary")
        setter = KubeGateSetter(creds, WHO, recorder=rec)
        try:
            before = await setter.read(G)
            assert before.gate is Gate.GO and before.changed_by != WHO
            (r,) = latch.on_failure(Cause.TRANSIENT, "venue: RateLimited: 429", before)
            assert isinstance(r, Raise)
            change = await setter.set(G, r.gate, r.reason, base=before, event="CanaryNoGo", warning=True)
            assert (change.old, change.new, change.audited) == (Gate.GO, Gate.PAUSE, False)
            assert change.note.startswith("global.")  # the Event's name
            latch.raised(r, change.old)
            ours = await setter.read(G)
            assert (ours.gate, ours.changed_by, ours.reason) == (Gate.PAUSE, WHO, r.reason)
            with pytest.raises(GateConflict):  # a write on a stale read is refused
                await setter.set(G, Gate.GO, "stale", base=before, event="CanaryRecovered", warning=False)
            clock[0] += 30
            assert isinstance(latch.on_pass(ours)[0], Keep)
            (lift,) = latch.on_pass(await setter.read(G))
            assert isinstance(lift, Lift) and lift.gate is Gate.GO and lift.held_seconds == 30
            fresh = await setter.read(G)
            await setter.set(G, lift.gate, lift.reason, base=fresh, event="CanaryRecovered", warning=False)
            latch.lifted()
            assert rec.errors == []
        finally:
            await setter.close()

    asyncio.run(scenario())
    obj = get(plane, ns, "riskpolicy", "global")
    assert obj is not None and obj["spec"]["gate"] == "GO"
    ann = obj["metadata"]["annotations"]
    assert ann[GATE_CHANGED_BY] == WHO and ann[GATE_REASON].startswith("canary recovered: 2 passes")
    raw = plane.kubectl("-n", ns, "get", "riskpolicy", "global", "-o", "json", "--show-managed-fields")
    fields = json.loads(raw.stdout)["metadata"]["managedFields"]
    owners = {m["manager"] for m in fields if "f:gate" in m["fieldsV1"].get("f:spec", {})}
    assert owners == {WHO}  # the operator's GateChanged Event names this field manager
    out = plane.kubectl("get", "--raw", f"/apis/events.k8s.io/v1/namespaces/{ns}/events").stdout
    events = {e["reason"]: e for e in json.loads(out)["items"]}
    no_go, recovered = events["CanaryNoGo"], events["CanaryRecovered"]
    assert no_go["type"] == "Warning" and no_go["regarding"]["kind"] == "RiskPolicy"
    assert no_go["regarding"]["uid"] == obj["metadata"]["uid"]
    assert "GO → PAUSE by canary/canary: canary NO_GO (transient-venue-fault, was GO)" in no_go["note"]
    assert recovered["type"] == "Normal" and "PAUSE → GO" in recovered["note"]
    assert no_go["reportingController"] == "quantops.dev/canary"


def test_a_person_changing_the_gate_ends_the_canarys_claim(crds_installed: ControlPlane) -> None:
    plane = crds_installed
    ns, creds = _namespace_as_agent(plane)
    latch = NoGoLatch(G, Gate.PAUSE, WHO, recover_after=1)

    async def raise_no_go(setter: KubeGateSetter) -> None:
        before = await setter.read(G)
        (r,) = latch.on_failure(Cause.TRANSIENT, "venue: 502", before)
        assert isinstance(r, Raise)
        await setter.set(G, r.gate, r.reason, base=before, event="CanaryNoGo", warning=True)
        latch.raised(r)

    async def read() -> Any:
        setter = KubeGateSetter(creds, WHO)
        try:
            return await setter.read(G)
        finally:
            await setter.close()

    async def raise_only() -> None:
        setter = KubeGateSetter(creds, WHO)
        try:
            await raise_no_go(setter)
        finally:
            await setter.close()

    asyncio.run(raise_only())
    # a person STOPs and then PAUSEs again with kubectl: same value as the canary's, not its write
    _person_sets(plane, ns, "STOP", "incident 7")
    _person_sets(plane, ns, "PAUSE", "incident 7: reduce only")
    now = asyncio.run(read())
    assert now.gate is Gate.PAUSE and now.changed_by == "kubectl-patch"
    (release,) = latch.on_pass(now)
    assert isinstance(release, Release)
    assert latch.on_pass(now) == []  # never lifted
    obj = get(plane, ns, "riskpolicy", "global")
    assert obj is not None and obj["spec"]["gate"] == "PAUSE"

    # the same with only the reason changed (a person's PAUSE on top of the canary's)
    _person_sets(plane, ns, "GO", "all clear")
    asyncio.run(raise_only())
    plane.kubectl(
        "-n", ns, "annotate", "--overwrite", "riskpolicy", "global", f"{GATE_REASON}=keep it paused"
    )
    (release,) = latch.on_pass(asyncio.run(read()))
    assert isinstance(release, Release)


def test_without_patch_on_riskpolicies_the_setter_names_the_missing_verb(
    crds_installed: ControlPlane,
) -> None:
    plane = crds_installed
    read_only = [
        {"apiGroups": ["quantops.dev"], "resources": ["riskpolicies"], "verbs": ["get", "list", "watch"]}
    ]
    _, creds = _namespace_as_agent(plane, read_only)

    async def scenario() -> None:
        setter = KubeGateSetter(creds, WHO)
        try:
            base = await setter.read(G)
            with pytest.raises(GateSetError, match=r"needs patch on quantops\.dev riskpolicies"):
                await setter.set(G, Gate.PAUSE, "canary NO_GO", base=base, event="CanaryNoGo", warning=True)
        finally:
            await setter.close()

    asyncio.run(scenario())
