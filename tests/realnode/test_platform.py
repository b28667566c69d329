"""The sample platform on real pods, end to end — the one scenario both cluster providers run.

In CI it runs on the host node (a real kubelet + containerd + kube-proxy, hack/realnode.py); on a
user's machine `hack/kind-e2e.sh` runs this same file against kind (QUANTOPS_E2E_PROVIDER=kind).
Nothing is faked: the chart installs the operator as a pod, the operator makes Deployments, the
kubelet runs the agent image with its real probes, the trader finds the venue-sim through its
Service and trades over ccxt, gates are flipped with `kubectl patch`.

The steps build on each other (one platform per module, tests in file order):
install → every Agent Ready → the trader trades → gate flips (p50/p99) → per-strategy STOP →
a deleted global RiskPolicy pauses → `kill -9` of the trader resumes without buying again →
API server loss pauses and recovers → operator restart changes nothing → a spec patch is one
rollout → a recycle replaces the trader pod without two traders at once, state kept.

Two deliberate differences from `quantops up`: the venue replays at 600× (what `--speed 600`
does locally) so a strategy trades within minutes, and btc-momentum's status.stage is set to HOT
with a status patch — `kubectl apply` ignores status, and without it the strategy paper trades
until the pipeline promotes it.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml
from controlplane import build_binaries

from cluster.conftest import wait_for

from .conftest import STORAGE_CLASS, describe, get_json, pod_ready

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "quantops"
NS = "trading"
SPEED = 600
AGENTS = ("venue-sim", "trader", "pipeline", "canary", "supervisor")
DEMO_KEY = "demo-trader"  # the apiKey the scenario puts in the sample's Secret demo-trader-keys
SAMPLE_SECRETS = {"demo-trader-keys": DEMO_KEY, "demo-canary-keys": "demo-canary"}
INITIAL_BTC = Decimal("1")  # the sample's balance of that account


_ips: dict[tuple[str, str], str] = {}
"""Pod IPs by (namespace, pod): a pod keeps its IP for life, and the API server may be the thing down."""


class Provider(Protocol):
    """What the scenario needs of a cluster beyond kubectl: the host node or kind."""

    kubeconfig: Path
    storage_class: str

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...
    def kill_container(self, namespace: str, pod: str, container: str = "agent") -> int: ...
    def stop_apiserver(self) -> None: ...
    def start_apiserver(self) -> None: ...
    def get(self, namespace: str, pod: str, port: int, path: str) -> Any:
        """GET a pod's HTTP endpoint without the API server (it may be the thing that is down)."""
        ...


@dataclass
class HostNode:
    node: Any  # realnode.RealNode

    @property
    def kubeconfig(self) -> Path:
        return Path(self.node.kubeconfig)

    storage_class: str = STORAGE_CLASS

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.node.kubectl(*args, input=input, check=check)  # type: ignore[no-any-return]

    def kill_container(self, namespace: str, pod: str, container: str = "agent") -> int:
        return int(self.node.kill_container(namespace, pod, container))

    def stop_apiserver(self) -> None:
        self.node.stop_apiserver()

    def start_apiserver(self) -> None:
        self.node.start_apiserver()

    def get(self, namespace: str, pod: str, port: int, path: str) -> Any:
        ip = _ips.get((namespace, pod)) or _ips.setdefault((namespace, pod), self.node.pod_ip(namespace, pod))
        code, body = self.node.http_get(ip, port, path)
        return json.loads(body) if code == 200 else None


@dataclass
class Kind:
    """kind on a user's machine (hack/kind-e2e.sh): node-level steps through `docker exec`."""

    kubeconfig: Path
    cluster: str
    storage_class: str = "standard"

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        kubectl = os.environ.get("KUBECTL", "kubectl")
        return subprocess.run(
            [kubectl, "--kubeconfig", str(self.kubeconfig), *args],
            input=input, text=True, capture_output=True, check=check, timeout=120,
        )  # fmt: skip

    def _node(self, *cmd: str) -> str:
        node = f"{self.cluster}-control-plane"
        return subprocess.run(
            ["docker", "exec", node, *cmd], check=True, capture_output=True, text=True
        ).stdout

    def kill_container(self, namespace: str, pod: str, container: str = "agent") -> int:
        out = self._node(
            "crictl", "ps", "--name", container, "--label", f"io.kubernetes.pod.name={pod}", "-q"
        )
        pid = int(json.loads(self._node("crictl", "inspect", out.split()[0]))["info"]["pid"])
        self._node("kill", "-9", str(pid))
        return pid

    def stop_apiserver(self) -> None:
        self._node(
            "mv", "/etc/kubernetes/manifests/kube-apiserver.yaml", "/etc/kubernetes/kube-apiserver.yaml"
        )

    def start_apiserver(self) -> None:
        self._node(
            "mv", "/etc/kubernetes/kube-apiserver.yaml", "/etc/kubernetes/manifests/kube-apiserver.yaml"
        )
        wait_for(
            lambda: self.kubectl("get", "--raw", "/readyz", check=False).returncode == 0, 120, "apiserver"
        )

    def get(self, namespace: str, pod: str, port: int, path: str) -> Any:
        if (namespace, pod) not in _ips:
            out = self.kubectl("-n", namespace, "get", "pod", pod, "-o", "json").stdout
            _ips[(namespace, pod)] = json.loads(out)["status"]["podIP"]
        ip = _ips[(namespace, pod)]
        res = subprocess.run(
            ["docker", "exec", f"{self.cluster}-control-plane", "curl", "-sf", f"http://{ip}:{port}{path}"],
            capture_output=True, text=True,
        )  # fmt: skip
        return json.loads(res.stdout) if res.returncode == 0 else None


@pytest.fixture(scope="module")
def provider(request: pytest.FixtureRequest) -> Provider:
    if os.environ.get("QUANTOPS_E2E_PROVIDER") == "kind":
        return Kind(
            Path(os.environ["QUANTOPS_E2E_KUBECONFIG"]),
            os.environ.get("QUANTOPS_E2E_CLUSTER", "quantops-e2e"),
        )
    return HostNode(request.getfixturevalue("real_node"))


class Platform:
    """The installed platform and the views the steps read."""

    def __init__(self, k: Provider) -> None:
        self.k = k
        self.rollouts_seen: dict[str, int] = {}

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.k.kubectl("-n", NS, *args, input=input, check=check)

    def pods(self, agent: str) -> list[dict[str, Any]]:
        out = self.kubectl("get", "pods", "-l", f"quantops.dev/agent={agent}", "-o", "json").stdout
        return list(json.loads(out)["items"])

    def pod(self, agent: str) -> dict[str, Any]:
        live = [p for p in self.pods(agent) if not p["metadata"].get("deletionTimestamp")]
        assert len(live) == 1, f"{agent}: {[p['metadata']['name'] for p in live]}"
        return live[0]

    def status(self, agent: str, pod: str | None = None) -> dict[str, Any] | None:
        """The agent's own /status, read from its pod (not through the API server; give the pod's
        name while the API server is down)."""
        try:
            name = pod or self.pod(agent)["metadata"]["name"]
            return self.k.get(NS, name, 8080, "/status")  # type: ignore[no-any-return]
        except (AssertionError, RuntimeError, OSError, ValueError, KeyError, subprocess.SubprocessError):
            return None

    def work(self, agent: str) -> dict[str, Any]:
        return dict((self.status(agent) or {}).get("work") or {})

    def venue(self) -> dict[str, Any]:
        return dict(self.k.get(NS, self.pod("venue-sim")["metadata"]["name"], 8081, "/_sim/state") or {})

    def replica_sets(self, agent: str) -> int:
        out = self.kubectl("get", "replicasets", "-l", f"quantops.dev/agent={agent}", "-o", "json").stdout
        return len(json.loads(out)["items"])

    def rollouts_explained(self, agent: str) -> str:
        """Each ReplicaSet's pod-template annotations and the Agent's restart fields: what rolled."""
        out = self.kubectl("get", "replicasets", "-l", f"quantops.dev/agent={agent}", "-o", "json").stdout
        sets = [
            (rs["metadata"]["creationTimestamp"], rs["spec"]["template"]["metadata"].get("annotations"))
            for rs in json.loads(out)["items"]
        ]
        status = (get_json(self.k, "-n", NS, "agent", agent) or {}).get("status") or {}  # type: ignore[arg-type]
        keys = ("restarts", "lastRestart", "lastRestartReason", "startedAt", "templateHash")
        return json.dumps({"replicaSets": sorted(sets), "status": {k: status.get(k) for k in keys}}, indent=1)

    def agent_ready(self, agent: str) -> bool:
        obj = get_json(self.k, "-n", NS, "agent", agent)  # type: ignore[arg-type]
        conds = ((obj or {}).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    def booked_btc(self) -> Decimal:
        positions = self.work("trader").get("positions") or {}
        return sum((Decimal(q) for k, q in positions.items() if k.endswith("|BTC/USDT")), Decimal(0))

    def venue_btc(self) -> Decimal:
        return Decimal(self.venue()["balances"][DEMO_KEY]["BTC"])

    def drift(self) -> Decimal:
        """Venue BTC moved by the trader minus the BTC the trader booked (net of the fees the venue
        takes in BTC): 0 once the trader has synced; a re-bought position shows as a whole target."""
        return (self.venue_btc() - INITIAL_BTC) - self.booked_btc()

    def no_drift(self, what: str) -> None:
        """The venue's account and the trader's book agree once the trader has synced its fills.

        A resting passive order fills on the venue between two of the trader's polls, so one read
        of both sides can catch a fill the trader has not seen yet: twice in clean-clone CI
        (3c53914, b780c08) a sell of the whole 0.01617 BTC position, filled on the venue and not
        yet booked. A re-bought position never settles, so waiting a few polls still catches it.
        """
        try:
            wait_for(lambda: abs(self.drift()) < Decimal("0.001"), 30, what)
        except AssertionError as e:  # the ledger first: CI logs cut long lines
            raise AssertionError(f"{e}\n{self.ledger()}\n{self.explain()}") from None

    def ledger(self) -> str:
        """One compact line per side: the venue's account (balances, each order and fill) and the
        trader's view (positions, counts, reconciliation, restarts) — what a drift is read from."""
        v = self.venue()
        orders = [
            f"{o['side']} {o['symbol']} {o['executedQty']} {o['status']} {o['clientOrderId']}"
            + "".join(f" [{f['qty']}@{f['price']} fee {f['commission']}{f['commissionAsset']}]" for f in fs)
            for o in v.get("orders", [])
            if o.get("account") == DEMO_KEY
            for fs in [o["fills"]]
        ]
        w = self.work("trader")
        restarts = {
            p["metadata"]["name"]: [c.get("restartCount") for c in p["status"].get("containerStatuses", [])]
            for a in ("venue-sim", "trader")
            for p in self.pods(a)
        }
        return (
            f"venue {v.get('balances', {}).get(DEMO_KEY)} elapsedMs={v.get('elapsedMs')} orders={orders}\n"
            f"trader positions={w.get('positions')} orders={w.get('orders')} "
            f"reconciliation={w.get('reconciliation')} restarts={restarts}"
        )

    def runbook(self) -> str:
        """`quantops runbook --kube` as a user runs it (kubectl and KUBECONFIG of this cluster)."""
        kubectl = os.environ.get("KUBECTL", "kubectl") if isinstance(self.k, Kind) else None
        res = subprocess.run(
            [sys.executable, "-m", "quantops_local.cli", "--kubectl",
             kubectl or str(build_binaries() / "kubectl"), "runbook", "--kube", "-n", NS],
            env={**os.environ, "KUBECONFIG": str(self.k.kubeconfig)}, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        return res.stdout

    def explain(self) -> str:
        return describe(self.k, NS)  # type: ignore[arg-type]


def _helm(k: Provider, *args: str) -> str:
    binary = os.environ.get("HELM") or str(build_binaries() / "helm")
    res = subprocess.run(
        [binary, "--kubeconfig", str(k.kubeconfig), *args], text=True, capture_output=True, timeout=600
    )
    assert res.returncode == 0, f"helm {' '.join(args)}:\n{res.stderr}{res.stdout}"
    return res.stdout


def _samples() -> str:
    """crds/samples/platform.yaml as shipped, the venue replaying at SPEED (quantops up --speed)."""
    docs = [d for d in yaml.safe_load_all((REPO / "crds" / "samples" / "platform.yaml").read_text()) if d]
    for d in docs:
        if d["kind"] == "Agent" and d["spec"]["role"] == "venue-sim":
            d["spec"]["config"]["venue"]["speed"] = SPEED
    return yaml.safe_dump_all(docs)


@pytest.fixture(scope="module")
def platform(provider: Provider) -> Iterator[Platform]:
    p = Platform(provider)
    _helm(
        provider, "install", "quantops", str(CHART), "-n", NS, "--create-namespace",
        "-f", str(CHART / "ci" / "dev-values.yaml"),
        "--set", "samples.enabled=false",  # the scenario applies them with kubectl, as a user does
        "--set", f"agent.state.storageClassName={provider.storage_class}",
        "--wait", "--timeout", "180s",
    )  # fmt: skip
    for name, key in SAMPLE_SECRETS.items():  # as the README has a user create them (keys never in a spec)
        provider.kubectl(
            "-n", NS, "create", "secret", "generic", name,
            f"--from-literal=apiKey={key}", f"--from-literal=secret={secrets.token_urlsafe(32)}",
        )  # fmt: skip
    provider.kubectl("-n", NS, "apply", "-f", "-", input=_samples())
    try:
        yield p
    finally:
        print(p.explain())
        for agent in ("operator", *AGENTS):
            sel = "app.kubernetes.io/name=quantops" if agent == "operator" else f"quantops.dev/agent={agent}"
            logs = provider.kubectl("-n", NS, "logs", "-l", sel, "--tail=40", "--all-containers", check=False)
            print(f"--- {agent} logs ---\n{logs.stdout[-4000:]}{logs.stderr[-500:]}")
        # the node is shared with later test modules: leave it idle (the CRDs stay)
        provider.kubectl("delete", "namespace", NS, "--wait=false", check=False)


def test_every_sample_agent_runs_as_a_ready_pod_through_its_real_probes(platform: Platform) -> None:
    try:
        wait_for(lambda: all(platform.agent_ready(a) for a in AGENTS), 240, "every Agent Ready")
    except AssertionError:
        raise AssertionError(platform.explain()) from None
    for agent in AGENTS:
        pod = platform.pod(agent)
        assert pod["status"]["phase"] == "Running" and pod_ready(pod), agent
        assert platform.status(agent) is not None, f"{agent} serves /status"
    # the trader keeps its state on a claim that outlives its pods
    claim = get_json(platform.k, "-n", NS, "pvc", "trader-state")  # type: ignore[arg-type]
    assert claim is not None and claim["status"]["phase"] == "Bound"
    assert (
        platform.pod("trader")["spec"]["volumes"][1]["persistentVolumeClaim"]["claimName"] == "trader-state"
    )
    # the venue is reached through its Service, not through a local supervisor
    work = platform.work("trader")
    svc = get_json(platform.k, "-n", NS, "service", "venue-sim-agent")  # type: ignore[arg-type]
    assert svc is not None and work["venueUrl"] == f"http://{svc['spec']['clusterIP']}:8081", work
    assert work["strategies"] == ["btc-momentum", "eth-meanrev"], work


def test_the_trader_trades_on_the_venue_sim_pod(platform: Platform) -> None:
    platform.kubectl(
        "patch",
        "strategy",
        "btc-momentum",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"stage":"HOT"}}',
    )
    wait_for(
        lambda: platform.work("trader").get("stages", {}).get("btc-momentum") == "HOT", 60, "HOT applied"
    )
    try:
        wait_for(lambda: platform.work("trader").get("orders", {}).get("filled", 0) > 0, 300, "a live fill")
    except AssertionError:
        raise AssertionError(f"{platform.work('trader')}\n{platform.explain()}") from None
    # the fills are in the trader's event log on its volume, and on the venue's books
    pod = platform.pod("trader")["metadata"]["name"]
    script = (
        "from quantops_trading.storage.eventlog import EventLog;"
        "log = EventLog('/var/lib/quantops/eventlogs/btc-momentum.sqlite'); log.verify();"
        "print(sum(1 for e in log.entries() if e.kind == 'order_filled'))"
    )
    res = platform.kubectl("exec", pod, "-c", "agent", "--", "python", "-c", script, check=False)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.strip().splitlines()[-1]) > 0
    # the venue filled the trader's account (its BTC may be back at 1: a round trip sells what the
    # buy was credited, net of the fee the venue took in BTC)
    filled = [o for o in platform.venue()["orders"] if o["account"] == DEMO_KEY and Decimal(o["executedQty"])]
    assert filled, platform.ledger()
    platform.no_drift("the venue holds what the trader booked")


def _restored(platform: Platform, pod: str) -> dict[str, Any]:
    """The restarted trader's positions_restored line for btc-momentum (its log since this start)."""
    out = platform.kubectl("logs", pod, "-c", "agent").stdout
    lines = [json.loads(x) for x in out.splitlines() if '"positions_restored"' in x]
    return next(x for x in reversed(lines) if x.get("strategy") == "btc-momentum")


def test_kill_9_of_the_trader_resumes_without_buying_again(platform: Platform) -> None:
    pod = platform.pod("trader")
    name, restarts = pod["metadata"]["name"], pod["status"]["containerStatuses"][0]["restartCount"]
    rs_before = platform.replica_sets("trader")
    platform.k.kill_container(NS, name)
    wait_for(
        lambda: platform.pod("trader")["status"]["containerStatuses"][0]["restartCount"] == restarts + 1,
        60,
        "the kubelet restarted the container",
    )
    wait_for(lambda: pod_ready(platform.pod("trader")), 60, "trader Ready again")
    wait_for(lambda: platform.work("trader").get("ticks", 0) > 10, 60, "trading again")
    assert platform.pod("trader")["metadata"]["name"] == name  # the same pod: the kubelet's restart
    restored = _restored(platform, name)
    assert restored["fills"] > 0, restored  # rebuilt from the event log on its volume
    platform.no_drift("the venue holds what the trader booked: no re-buy")
    _agrees_with_the_venue(platform)
    assert platform.replica_sets("trader") == rs_before, "a container restart is not a rollout"


def _agrees_with_the_venue(platform: Platform) -> None:
    """The restarted trader reconciled its books with the venue's balances before trading."""
    rec = platform.work("trader")["reconciliation"]
    assert rec["passes"] >= 1 and not rec["paused"], rec


def _flip(platform: Platform, pod: str, gate: str) -> float:
    """ms from `kubectl patch` (its process included) to the trader pod's /status showing the gate."""
    t0 = time.monotonic()
    platform.kubectl("patch", "agent", "trader", "--type=merge", "-p", json.dumps({"spec": {"gate": gate}}))
    while (platform.status("trader", pod) or {}).get("gate") != gate:  # polled as fast as it answers
        assert time.monotonic() - t0 < 10, f"trader did not apply {gate} within 10 s"
    return (time.monotonic() - t0) * 1000


def test_gate_flips_reach_the_trader_pod(platform: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    """kubectl patch → the trader pod's own /status shows it applied; measured over 20 flips."""
    pod = platform.pod("trader")["metadata"]["name"]
    ms = [_flip(platform, pod, g) for _ in range(10) for g in ("PAUSE", "GO")]
    q = statistics.quantiles(ms, n=100, method="inclusive")
    report = {"n": len(ms), "p50": round(q[49]), "p99": round(q[98]), "max": round(max(ms))}
    with capsys.disabled():  # a measurement, printed in every run (no threshold asserted)
        print(json.dumps({"gateFlipMsKubectlPatchToPodStatus": report}))
    assert len(ms) >= 20


def test_a_per_strategy_policy_stop_stops_that_strategy_only(platform: Platform) -> None:
    platform.kubectl(
        "patch", "riskpolicy", "momentum-limits", "--type=merge", "-p", '{"spec":{"gate":"STOP"}}'
    )
    try:
        wait_for(
            lambda: (platform.status("trader") or {}).get("strategyGates", {}).get("btc-momentum") == "STOP",
            15,
            "btc-momentum STOP",
        )
        st = platform.status("trader") or {}
        assert st["gate"] == "GO" and st["strategyGates"]["eth-meanrev"] == "GO", st
    finally:
        platform.kubectl(
            "patch", "riskpolicy", "momentum-limits", "--type=merge", "-p", '{"spec":{"gate":"GO"}}'
        )
    wait_for(
        lambda: (platform.status("trader") or {}).get("strategyGates", {}).get("btc-momentum") == "GO", 15
    )


def test_deleting_the_global_policy_pauses_every_agent(platform: Platform) -> None:
    policy = platform.kubectl("get", "riskpolicy", "global", "-o", "json").stdout
    body = json.loads(policy)
    clean = {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": {"name": "global"},
        "spec": body["spec"],
    }
    platform.kubectl("delete", "riskpolicy", "global")
    try:
        for agent in ("trader", "canary", "pipeline"):
            wait_for(lambda a=agent: (platform.status(a) or {}).get("gate") == "PAUSE", 15, f"{agent} PAUSE")
            assert (platform.status(agent) or {})["gateSource"] == "RiskPolicy/global"
        # the operator's status says what the agents do (it showed GO while nothing traded), and
        # `quantops runbook --kube` gives one section for the cause: re-create the policy
        missing = "RiskPolicy/global (missing)"

        def gated(agent: str) -> str:
            obj = get_json(platform.k, "-n", NS, "agent", agent) or {}
            st = obj.get("status") or {}
            msg = next((c["message"] for c in st.get("conditions", []) if c["type"] == "Gated"), "")
            return f"{st.get('effectiveGate')} {msg}"

        for agent in AGENTS:
            wait_for(lambda a=agent: gated(a) == f"PAUSE effective gate PAUSE from {missing}", 30, f"{agent}")
        text = platform.runbook()
        assert text.count(f"## Gate PAUSE from {missing}: 5 agents") == 1, text
        assert "re-create RiskPolicy 'global' (kubectl apply" in text and "patch riskpolicy" not in text, text
    finally:
        platform.kubectl("apply", "-f", "-", input=json.dumps(clean))
    wait_for(lambda: (platform.status("trader") or {}).get("gate") == "GO", 15, "trader GO again")


def test_losing_the_api_server_pauses_the_agents_then_they_recover(platform: Platform) -> None:
    grace = 15  # apiLossGraceSeconds default
    pod = platform.pod("trader")["metadata"]["name"]
    platform.k.get(NS, pod, 8080, "/status")  # the address is known before the API server goes
    platform.k.stop_apiserver()
    t0 = time.monotonic()
    try:
        wait_for(
            lambda: (platform.status("trader", pod) or {}).get("gate") == "PAUSE", grace + 15, "fail closed"
        )
        took = time.monotonic() - t0
        st = platform.status("trader", pod) or {}
        assert st["gateSource"] == "FailClosed/control-plane-unreachable" and st["apiLost"]
        assert took >= grace - 6, f"paused after {took:.1f}s: before the grace"
    finally:
        platform.k.start_apiserver()
    wait_for(lambda: (platform.status("trader") or {}).get("gate") == "GO", 60, "recovered to GO")


def test_an_operator_restart_changes_nothing(platform: Platform) -> None:
    before = {a: platform.replica_sets(a) for a in AGENTS}
    op = json.loads(
        platform.kubectl("get", "pods", "-l", "app.kubernetes.io/name=quantops", "-o", "json").stdout
    )
    platform.kubectl("delete", "pod", op["items"][0]["metadata"]["name"])
    platform.kubectl(
        "rollout", "status", "deployment", "-l", "app.kubernetes.io/name=quantops", "--timeout=120s"
    )
    wait_for(lambda: all(platform.agent_ready(a) for a in AGENTS), 60, "agents still Ready")
    # two resyncs of the new operator (dev values: 2 s) and nothing rolled
    end = time.monotonic() + 6
    while time.monotonic() < end:
        now = {a: platform.replica_sets(a) for a in AGENTS}
        rolled = [a for a in AGENTS if now[a] != before[a]]
        assert not rolled, "\n".join(platform.rollouts_explained(a) for a in rolled)
        time.sleep(1)


def test_a_spec_change_is_exactly_one_rollout(platform: Platform) -> None:
    before = platform.replica_sets("supervisor")
    platform.kubectl(
        "patch",
        "agent",
        "supervisor",
        "--type=merge",
        "-p",
        '{"spec":{"shutdown":{"preStopSleepSeconds":1}}}',
    )
    wait_for(lambda: platform.replica_sets("supervisor") == before + 1, 60, "the rollout")
    wait_for(lambda: platform.agent_ready("supervisor"), 120, "supervisor Ready after its rollout")
    end = time.monotonic() + 10  # the old pod's terminated container must not start another
    while time.monotonic() < end:
        assert platform.replica_sets("supervisor") == before + 1
        time.sleep(1)


def test_the_pipeline_scales_into_real_worker_pods_by_queue_length_and_back(platform: Platform) -> None:
    """Queue pressure stands in as one more replica's Lease reporting 14 queued items (the pipeline's
    own queue is short on the sample's two strategies); the workers are real pods that start, pass
    their probes and heartbeat, then go away again."""
    platform.kubectl(
        "patch", "agent", "pipeline", "--type=merge", "-p",
        '{"spec":{"autoscaling":{"minReplicas":1,"maxReplicas":4,"targetQueuePerWorker":5,"cooldownSeconds":0}}}',
    )  # fmt: skip
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": "pipeline-queue-pressure",
            "labels": {"quantops.dev/agent": "pipeline"},
            "annotations": {"quantops.dev/queue-length": "14"},
        },
        "spec": {"holderIdentity": "pipeline-queue-pressure", "leaseDurationSeconds": 15, "renewTime": now},
    }
    platform.kubectl("apply", "-f", "-", input=json.dumps(lease))

    def ready_workers() -> int:
        return sum(
            1
            for p in platform.pods("pipeline")
            if pod_ready(p) and not p["metadata"].get("deletionTimestamp")
        )

    try:
        wait_for(lambda: ready_workers() == 3, 120, "3 Ready pipeline pods for queue 14 / 5")
        leases = platform.kubectl(
            "get", "leases", "-l", "quantops.dev/agent=pipeline", "-o", "name"
        ).stdout.split()
        assert len(leases) >= 4, leases  # each real worker heartbeats with a Lease of its own
    finally:
        platform.kubectl("delete", "lease", "pipeline-queue-pressure", check=False)
    wait_for(lambda: len(platform.pods("pipeline")) == 1 and ready_workers() == 1, 120, "back to one worker")


def test_a_recycle_replaces_the_trader_without_two_traders_and_keeps_its_state(platform: Platform) -> None:
    old = platform.pod("trader")["metadata"]["name"]
    platform.kubectl(
        "patch", "agent", "trader", "--type=merge", "-p",
        '{"spec":{"recycle":{"maxUptimeSeconds":60,"hardDeadlineSeconds":60}}}',
    )  # fmt: skip
    most = 0
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            running = [p for p in platform.pods("trader") if p["status"].get("phase") == "Running"]
            most = max(most, len(running))
            new = [p for p in running if p["metadata"]["name"] != old and pod_ready(p)]
            if new:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no recycle within 240 s\n{platform.explain()}")
    finally:
        platform.kubectl(
            "patch",
            "agent",
            "trader",
            "--type=merge",
            "-p",
            '{"spec":{"recycle":{"maxUptimeSeconds":86400,"hardDeadlineSeconds":90000}}}',
        )
    assert most == 1, "two trader pods ran at once"
    wait_for(lambda: platform.work("trader").get("ticks", 0) > 5, 90, "the new trader pod trades")
    writer = platform.work("trader")["writer"]
    assert writer["held"] and writer["holder"] != old, writer
    # a new pod resumed from the event logs on the volume (the position itself may have moved since
    # it was read: the strategy keeps trading until the recycle, so the fills are the evidence)
    restored = _restored(platform, platform.pod("trader")["metadata"]["name"])
    assert restored["fills"] > 0, restored
    platform.no_drift("no re-buy after the pod was replaced")
    _agrees_with_the_venue(platform)
