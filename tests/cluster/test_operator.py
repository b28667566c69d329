"""The operator on the real control plane: ordering, cycles, backoff, recovery, gates, scaling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from controlplane import ControlPlane, operator_process

from .conftest import (
    apply_agent,
    condition,
    create_agent_service_accounts,
    get,
    heartbeat,
    unique,
    wait_for,
)

pytestmark = pytest.mark.cluster


def test_dependents_start_only_after_dependencies_ready(crds_installed: ControlPlane, operator: str) -> None:
    plane, ns = crds_installed, operator
    a, b, c = unique("base"), unique("mid"), unique("top")
    for name, deps in ((c, [b]), (b, [a]), (a, [])):
        apply_agent(plane, ns, name, dependsOn=deps)
    wait_for(lambda: get(plane, ns, "deployment", f"{a}-agent"), what="base deployment")
    wait_for(lambda: condition(get(plane, ns, "agent", b), "Ready").get("reason") == "WaitingForDependencies")
    assert get(plane, ns, "deployment", f"{b}-agent") is None
    assert get(plane, ns, "deployment", f"{c}-agent") is None
    # kwok makes the pods Ready; the agent's heartbeat Lease makes the Agent Ready
    wait_for(
        lambda: (get(plane, ns, "deployment", f"{a}-agent") or {}).get("status", {}).get("readyReplicas") == 1
    )
    heartbeat(plane, ns, a)
    wait_for(
        lambda: condition(get(plane, ns, "agent", a), "Ready").get("status") == "True", what="base Ready"
    )
    wait_for(lambda: get(plane, ns, "deployment", f"{b}-agent"), what="mid deployment after base Ready")
    assert get(plane, ns, "deployment", f"{c}-agent") is None
    heartbeat(plane, ns, b)
    wait_for(lambda: get(plane, ns, "deployment", f"{c}-agent"), what="top deployment after mid Ready")
    dep = get(plane, ns, "deployment", f"{c}-agent")
    assert dep is not None
    pod = dep["spec"]["template"]["spec"]
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"] == 2
    assert pod["terminationGracePeriodSeconds"] == 30
    assert dep["metadata"]["ownerReferences"][0]["name"] == c
    assert "quantops.dev/template-hash" in dep["metadata"]["annotations"]


def test_dependency_cycle_gets_clear_condition(crds_installed: ControlPlane, operator: str) -> None:
    plane, ns = crds_installed, operator
    x, y = unique("cyc-x"), unique("cyc-y")
    apply_agent(plane, ns, x, dependsOn=[y])
    apply_agent(plane, ns, y, dependsOn=[x])
    for name in (x, y):
        cond = wait_for(lambda n=name: condition(get(plane, ns, "agent", n), "Ready") or None)
        wait_for(
            lambda n=name: condition(get(plane, ns, "agent", n), "Ready").get("reason") == "DependencyCycle"
        )
        cond = condition(get(plane, ns, "agent", name), "Ready")
        assert x in cond["message"] and y in cond["message"]
        assert get(plane, ns, "deployment", f"{name}-agent") is None
    missing = unique("orphan")
    apply_agent(plane, ns, missing, dependsOn=["does-not-exist"])
    wait_for(
        lambda: condition(get(plane, ns, "agent", missing), "Ready").get("reason") == "DependencyMissing"
    )


def test_stale_heartbeat_restarts_with_backoff_then_recovers(
    crds_installed: ControlPlane, operator: str
) -> None:
    plane, ns = crds_installed, operator
    name = unique("flaky")
    apply_agent(
        plane,
        ns,
        name,
        backoff={"initialSeconds": 30, "maxSeconds": 120, "staleAfterSeconds": 2, "jitter": 0},
        recoveryHoldSeconds=3,
    )
    wait_for(
        lambda: (get(plane, ns, "deployment", f"{name}-agent") or {}).get("status", {}).get("readyReplicas")
    )
    heartbeat(plane, ns, name)
    wait_for(lambda: condition(get(plane, ns, "agent", name), "Ready").get("status") == "True")
    # the heartbeat stops: after staleAfterSeconds the operator restarts the pods once, then backs off
    obj = wait_for(lambda: (o := get(plane, ns, "agent", name)) and o["status"].get("restarts") == 1 and o)
    assert obj["status"]["phase"] in ("BackingOff", "Degraded")
    assert condition(obj, "Ready")["status"] == "False"
    dep = get(plane, ns, "deployment", f"{name}-agent")
    assert (
        dep is not None and "quantops.dev/restarted-at" in dep["spec"]["template"]["metadata"]["annotations"]
    )
    time.sleep(4)  # inside the 30 s backoff window: no second restart
    assert (get(plane, ns, "agent", name) or {})["status"]["restarts"] == 1
    events = plane.kubectl(
        "-n", ns, "get", "events", "--field-selector", f"involvedObject.name={name}"
    ).stdout
    assert "Restarting" in events
    # heartbeats resume: Degraded, then Ready again after the recovery hold time
    for _ in range(30):
        heartbeat(plane, ns, name)
        if condition(get(plane, ns, "agent", name), "Ready").get("status") == "True":
            break
        time.sleep(0.5)
    final = get(plane, ns, "agent", name)
    assert condition(final, "Ready")["status"] == "True"
    assert condition(final, "Degraded")["status"] == "False"


def test_gate_flip_on_global_policy_is_effective_and_audited(
    crds_installed: ControlPlane, operator: str
) -> None:
    plane, ns = crds_installed, operator
    name = unique("gated")
    apply_agent(plane, ns, name)
    plane.kubectl(
        "-n",
        ns,
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "quantops.dev/v1alpha1",
                "kind": "RiskPolicy",
                "metadata": {"name": "global"},
                "spec": {"gate": "GO"},
            }
        ),
    )
    wait_for(lambda: (get(plane, ns, "agent", name) or {}).get("status", {}).get("effectiveGate") == "GO")
    plane.kubectl("-n", ns, "patch", "riskpolicy", "global", "--type=merge", "-p", '{"spec":{"gate":"STOP"}}')
    wait_for(lambda: (get(plane, ns, "agent", name) or {}).get("status", {}).get("effectiveGate") == "STOP")
    assert condition(get(plane, ns, "agent", name), "Gated")["status"] == "True"
    ev = wait_for(
        lambda: (
            "GO → STOP" in (out := plane.kubectl("-n", ns, "get", "events", "-o", "json").stdout)
            and json.loads(out)
        )
    )
    msgs = [e["message"] for e in ev["items"] if e["reason"] in ("GateChanged", "EffectiveGateChanged")]
    assert any("RiskPolicy gate GO → STOP by kubectl-patch" in m for m in msgs), msgs
    assert any("GO → STOP (most restrictive scope: RiskPolicy/global)" in m for m in msgs), msgs
    # an invalid gate value is refused by the API server, naming the field
    bad = plane.kubectl(
        "-n", ns, "patch", "agent", name, "--type=merge", "-p", '{"spec":{"gate":"MAYBE"}}', check=False
    )
    assert bad.returncode != 0 and "spec.gate" in bad.stderr
    plane.kubectl("-n", ns, "patch", "riskpolicy", "global", "--type=merge", "-p", '{"spec":{"gate":"GO"}}')
    wait_for(lambda: (get(plane, ns, "agent", name) or {}).get("status", {}).get("effectiveGate") == "GO")


def test_workers_resized_from_reported_queue_length(crds_installed: ControlPlane, operator: str) -> None:
    plane, ns = crds_installed, operator
    name = unique("workers")
    apply_agent(
        plane,
        ns,
        name,
        role="pipeline",
        autoscaling={"minReplicas": 1, "maxReplicas": 4, "targetQueuePerWorker": 5, "cooldownSeconds": 0},
    )
    wait_for(
        lambda: (get(plane, ns, "deployment", f"{name}-agent") or {}).get("spec", {}).get("replicas") == 1
    )
    heartbeat(plane, ns, name, queue=14)
    wait_for(
        lambda: (get(plane, ns, "deployment", f"{name}-agent") or {}).get("spec", {}).get("replicas") == 3,
        what="3 workers for queue 14 / 5",
    )
    wait_for(
        lambda: (
            (get(plane, ns, "deployment", f"{name}-agent") or {}).get("status", {}).get("readyReplicas") == 3
        )
    )
    heartbeat(plane, ns, name, queue=100)
    wait_for(
        lambda: (get(plane, ns, "deployment", f"{name}-agent") or {}).get("spec", {}).get("replicas") == 4,
        what="capped at maxReplicas",
    )


def test_runbook_from_live_agent_objects(crds_installed: ControlPlane, operator: str) -> None:
    plane, ns = crds_installed, operator
    p, q = unique("rb-p"), unique("rb-q")
    apply_agent(plane, ns, p, dependsOn=[q])
    apply_agent(plane, ns, q, dependsOn=[p])
    wait_for(lambda: condition(get(plane, ns, "agent", p), "Ready").get("reason") == "DependencyCycle")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "quantops_local.cli",
            "--kubectl",
            str(plane.bin_dir / "kubectl"),
            "runbook",
            "--kube",
            "-n",
            ns,
        ],
        env={**os.environ, "KUBECONFIG": str(plane.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    section = res.stdout.split(f"## {p} (trader)")[1].split("\n## ")[0]
    assert "DependencyCycle" in section and "dependsOn cycle" in section
    assert "Break the cycle: edit spec.dependsOn" in section
    assert f"kubectl logs deploy/{p}-agent" in section


def test_quantops_gate_kube_records_the_reason(crds_installed: ControlPlane, operator: str) -> None:
    plane, ns = crds_installed, operator
    name = unique("why")
    apply_agent(plane, ns, name)
    wait_for(lambda: (get(plane, ns, "agent", name) or {}).get("status", {}).get("effectiveGate") == "GO")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "quantops_local.cli",
            "--kubectl",
            str(plane.bin_dir / "kubectl"),
            "gate",
            f"agent/{name}",
            "STOP",
            "--kube",
            "-n",
            ns,
            "--reason",
            "venue incident 42",
        ],
        env={**os.environ, "KUBECONFIG": str(plane.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    wait_for(lambda: (get(plane, ns, "agent", name) or {}).get("status", {}).get("effectiveGate") == "STOP")
    events = wait_for(
        lambda: "venue incident 42" in (out := plane.kubectl("-n", ns, "get", "events").stdout) and out
    )
    assert "Agent gate GO → STOP" in events


def test_agent_naming_a_missing_strategy_is_not_deployed(crds_installed: ControlPlane, operator: str) -> None:
    plane, ns = crds_installed, operator
    name = unique("lost")
    apply_agent(plane, ns, name, strategies=["no-such-strategy"])
    wait_for(lambda: condition(get(plane, ns, "agent", name), "Ready").get("reason") == "StrategyNotFound")
    assert "no-such-strategy" in condition(get(plane, ns, "agent", name), "StrategiesResolved")["message"]
    assert get(plane, ns, "deployment", f"{name}-agent") is None


def test_config_change_rolls_the_agent_pods(crds_installed: ControlPlane, operator: str) -> None:
    """Agents read spec.config once at start: the operator must roll the pods when it changes."""
    plane, ns = crds_installed, operator
    name = unique("cfg")
    apply_agent(plane, ns, name, config={"pollSeconds": 1})

    def template_annotations() -> dict[str, str]:
        dep = get(plane, ns, "deployment", f"{name}-agent") or {}
        return dict(dep.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {})

    first = wait_for(lambda: template_annotations().get("quantops.dev/config-hash"), what="config hash")
    patch = json.dumps({"spec": {"config": {"pollSeconds": 2}}})
    plane.kubectl("-n", ns, "patch", "agent", name, "--type=merge", "-p", patch)
    second = wait_for(
        lambda: (h := template_annotations().get("quantops.dev/config-hash")) != first and h,
        what="a new config hash on the pod template",
    )
    cm = get(plane, ns, "configmap", f"{name}-config") or {}
    assert json.loads(cm["data"]["config.json"])["config"] == {"pollSeconds": 2}
    assert second != first


def test_a_resync_with_nothing_changed_writes_no_status(crds_installed: ControlPlane, operator: str) -> None:
    """Status is written only when it changes: resync passes over a steady Agent leave it untouched.

    Judged by the Agent's resourceVersion across three resync passes of that Agent, counted in the
    operator's log (every object's line carries "[namespace/name]"), not by waiting a fixed time.
    """
    plane, ns = crds_installed, operator
    name = unique("steady")
    apply_agent(plane, ns, name, backoff={"staleAfterSeconds": 3600}, recycle={"maxUptimeSeconds": 86400})
    wait_for(
        lambda: (get(plane, ns, "deployment", f"{name}-agent") or {}).get("status", {}).get("readyReplicas")
    )
    heartbeat(plane, ns, name)
    wait_for(lambda: condition(get(plane, ns, "agent", name), "Ready").get("status") == "True")
    log = plane.workdir / "operator.log"

    def resyncs() -> int:
        return log.read_text(errors="replace").count(f"[{ns}/{name}] Timer 'agent_resync' succeeded")

    first = resyncs()
    wait_for(lambda: resyncs() > first, what="a resync after Ready")
    version = (get(plane, ns, "agent", name) or {})["metadata"]["resourceVersion"]
    settled = resyncs()
    wait_for(lambda: resyncs() >= settled + 3, what="three more resync passes")
    after = get(plane, ns, "agent", name) or {}
    assert after["metadata"]["resourceVersion"] == version, after.get("status")
    assert condition(after, "Ready")["status"] == "True"


def test_an_operator_started_over_more_agents_than_workers_reconciles_them_all(
    crds_installed: ControlPlane,
) -> None:
    """60 Agents exist before the operator starts (an operator restart, a new operator version).

    With kopf's queueing.worker_limit at 50 the operator deadlocked here: kopf holds each worker of
    the initial listing until every indexed object is indexed, and the 51st Agent never got one."""
    plane = crds_installed
    ns = unique("many")
    plane.kubectl("create", "namespace", ns)
    create_agent_service_accounts(plane, ns)
    names = [f"m{i:03d}" for i in range(60)]
    items = [
        {
            "apiVersion": "quantops.dev/v1alpha1",
            "kind": "Agent",
            "metadata": {"name": n},
            "spec": {"role": "pipeline"},
        }
        for n in names
    ]
    plane.kubectl(
        "-n", ns, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )

    def with_status() -> int:
        out = json.loads(plane.kubectl("-n", ns, "get", "agents", "-o", "json").stdout)["items"]
        return sum(1 for a in out if (a.get("status") or {}).get("phase"))

    try:
        with operator_process(plane, ns, log_name=f"operator-{ns}"):
            wait_for(lambda: with_status() == len(names), timeout=120, what="a status on every Agent")
    finally:
        plane.kubectl("delete", "namespace", ns, "--wait=false")
