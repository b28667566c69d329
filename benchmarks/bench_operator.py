"""Operator benchmark on the real control plane (prints JSON).

usage: .venv/bin/python benchmarks/bench_operator.py [--sizes 50,200,500] [--agents-watching 20] [--flips 10]
       (--agents-watching 0 skips part 2)

1. apply → Ready: `kubectl apply` of N Agents until every Agent reports Ready=True (the operator
   created N Deployments, kube-controller-manager/scheduler/kwok made the pods Ready, and the
   heartbeat Leases — written by this benchmark, since kwok pods run no agent — are fresh).
   Beside it, the same N Agents handled by a do-nothing kopf operator (benchmarks/noop_operator.py)
   on the same plane: kopf's own floor.
2. gate latency: M real agent runtime processes watch their objects; the global RiskPolicy gate
   is patched (HTTP PATCH, no kubectl process in the timing) and the time until each agent has
   applied the new gate is collected over several flips (p50/p99). Beside it, the time until the
   do-nothing kopf handler sees the same patch.

With `--node real` (usage: bench_operator.py --node real [--real-sizes 10,25] [--flips 10]) the same
apply → Ready runs on a real kubelet + containerd node (hack/realnode.py; it waits for the machine
lock another real-node run may hold): the operator installed by the Helm chart as in
tests/realnode, every Agent a real pod of role `feed` (a real agent process that only heartbeats,
serves its probes and applies gates — the cheapest role), Ready through its own readiness probe and
Lease. Gate-flip latency is measured by each pod's own /status: from the HTTP PATCH of the global
RiskPolicy to the moment each pod reports the new gate (every pod polled every 5 ms from the host).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

from controlplane import ControlPlane, build_binaries, free_port, operator_process  # noqa: E402

from quantops_operator.agent_rbac import service_account  # noqa: E402


def agent_doc(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name},
        "spec": {"role": "trader", "backoff": {"staleAfterSeconds": 3600}, "heartbeatSeconds": 1},
    }


def lease_doc(ns: str, agent: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": f"{agent}-bench", "namespace": ns, "labels": {"quantops.dev/agent": agent}},
        "spec": {"holderIdentity": f"{agent}-bench", "leaseDurationSeconds": 3600, "renewTime": now},
    }


def as_list(items: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def apply_docs(plane: ControlPlane, ns: str, docs: list[dict[str, Any]]) -> None:
    """`kubectl apply` of a List; no 120 s cap (ControlPlane.kubectl's) for 500 objects on a busy machine."""
    subprocess.run(
        [str(plane.bin_dir / "kubectl"), "--kubeconfig", str(plane.kubeconfig), "-n", ns, "apply", "-f", "-"],
        input=as_list(docs),
        text=True,
        capture_output=True,
        check=True,
        timeout=900,
    )


def ready_count(plane: ControlPlane, ns: str) -> int:
    items = json.loads(plane.kubectl("-n", ns, "get", "agents", "-o", "json").stdout)["items"]
    return sum(
        any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (i.get("status") or {}).get("conditions", [])
        )
        for i in items
    )


class ReadyWatch:
    """Agents' Ready conditions from one watch stream: the moment the last one turns Ready, with
    no polling load on the 2-core machine (a `kubectl get` of 500 Agents every 0.5 s took CPU from
    the operator it measured)."""

    def __init__(self, plane: ControlPlane, ns: str) -> None:
        self.url = f"{plane.server}/apis/quantops.dev/v1alpha1/namespaces/{ns}/agents?watch=1"
        self.ctx = ssl.create_default_context(cafile=str(plane.ca_file))
        self.token = plane.token
        self.stream = self._open()
        self.ready: dict[str, bool] = {}
        self.done_at = 0.0

    def _open(self) -> Any:
        """A watch from now (without a resourceVersion the server first sends every Agent as ADDED)."""
        req = urllib.request.Request(self.url, headers={"Authorization": f"Bearer {self.token}"})
        return urllib.request.urlopen(req, context=self.ctx, timeout=120)

    def __enter__(self) -> ReadyWatch:
        return self

    def __exit__(self, *_: object) -> None:
        self.stream.close()

    def wait(self, n: int, deadline: float) -> int:
        while sum(self.ready.values()) < n and time.monotonic() < deadline:
            try:
                line = self.stream.readline()
            except (TimeoutError, OSError):
                line = b""
            if not line:  # the server ended the watch (or it went quiet): open it again
                self.stream.close()
                self.stream = self._open()
                continue
            ev = json.loads(line)
            obj = ev.get("object") or {}
            name = (obj.get("metadata") or {}).get("name")
            if name is None:
                continue
            conds = (obj.get("status") or {}).get("conditions", [])
            self.ready[name] = ev.get("type") != "DELETED" and any(
                c["type"] == "Ready" and c["status"] == "True" for c in conds
            )
            self.done_at = time.monotonic()
        return sum(self.ready.values())


def patch_gate(plane: ControlPlane, ns: str, gate: str) -> float:
    """PATCH the global RiskPolicy's gate over HTTPS; returns the wall time just before sending."""
    ctx = ssl.create_default_context(cafile=str(plane.ca_file))
    req = urllib.request.Request(
        f"{plane.server}/apis/quantops.dev/v1alpha1/namespaces/{ns}/riskpolicies/global",
        data=json.dumps({"spec": {"gate": gate}}).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {plane.token}", "Content-Type": "application/merge-patch+json"},
    )
    t = time.time()
    with urllib.request.urlopen(req, context=ctx, timeout=10):
        pass
    return t


def json_lines(path: Path, marker: str) -> list[dict[str, Any]]:
    """JSON objects starting lines that contain `marker` (log lines of other writers may follow them)."""
    dec = json.JSONDecoder()
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if marker in line and line.startswith("{"):
            try:
                out.append(dec.raw_decode(line)[0])
            except ValueError:
                continue
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def bench_apply(plane: ControlPlane, n: int, timeout: float) -> dict[str, Any]:
    ns = f"bench-{n}"
    plane.kubectl("create", "namespace", ns)
    # the account the operator puts into a trader's pods (one per role): without it the Deployment
    # makes no pod and nothing ever becomes Ready
    plane.kubectl("-n", ns, "create", "serviceaccount", service_account("trader"))
    names = [f"a{i:04d}" for i in range(n)]
    apply_docs(plane, ns, [lease_doc(ns, a) for a in names])
    with operator_process(plane, ns, resync_seconds=10, log_name=f"operator-{n}"):
        with ReadyWatch(plane, ns) as watch:
            t0 = time.monotonic()
            apply_docs(plane, ns, [agent_doc(a) for a in names])
            ready = watch.wait(n, t0 + timeout)
        if ready < n:
            return {"n": n, "ready": ready, "timeout_s": timeout}
        quantops_s = watch.done_at - t0
    ns_noop = f"noop-{n}"
    plane.kubectl("create", "namespace", ns_noop)
    log = plane.workdir / f"noop-{n}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kopf",
                "run",
                "--standalone",
                "-n",
                ns_noop,
                str(REPO / "benchmarks" / "noop_operator.py"),
            ],
            env={**os.environ, "KUBECONFIG": str(plane.kubeconfig)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            time.sleep(3)
            t0 = time.monotonic()
            apply_docs(plane, ns_noop, [agent_doc(a) for a in names])
            while log.read_text().count('"event": "created"') < n and time.monotonic() - t0 < timeout:
                time.sleep(0.1)
            noop_s = time.monotonic() - t0
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    return {
        "n": n,
        "quantops_apply_to_ready_s": round(quantops_s, 2),
        "noop_kopf_all_handled_s": round(noop_s, 2),
        "agents_per_s": round(n / quantops_s, 1),
    }


def bench_gates(plane: ControlPlane, m: int, flips: int, tmp: Path) -> dict[str, Any]:
    ns = "bench-gates"
    plane.kubectl("create", "namespace", ns)
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
    names = [f"w{i:03d}" for i in range(m)]
    apply_docs(plane, ns, [agent_doc(a) for a in names])
    cfg = tmp / "agent.json"
    cfg.write_text(json.dumps({"heartbeatSeconds": 5, "apiLossGraceSeconds": 30, "strategies": []}))
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig), "POD_NAMESPACE": ns}
    procs, logs = [], []
    noop_log = tmp / "noop-gates.log"
    noop = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kopf",
            "run",
            "--standalone",
            "-n",
            ns,
            str(REPO / "benchmarks" / "noop_operator.py"),
        ],
        env=env,
        stdout=noop_log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        for a in names:
            log = tmp / f"{a}.log"
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "quantops_trading.runtime",
                        "--role",
                        "trader",
                        "--agent",
                        a,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(free_port()),
                        "--config",
                        str(cfg),
                    ],
                    env={**env, "POD_NAME": f"{a}-0"},
                    stdout=log.open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 120
        while not all('"new": "GO"' in p.read_text() for p in logs):
            if time.monotonic() > deadline:
                raise RuntimeError("agents did not start watching in time")
            time.sleep(0.2)
        time.sleep(3)
        agent_lat: list[float] = []
        noop_lat: list[float] = []
        for i in range(flips):
            gate = "STOP" if i % 2 == 0 else "GO"
            t = patch_gate(plane, ns, gate)
            time.sleep(1.5)
            for log in logs:
                ev = json_lines(log, '"gate_applied"')
                hit = [e["at"] for e in ev if e["new"] == gate and e["at"] >= t]
                if hit:
                    agent_lat.append(min(hit) - t)
            ev = json_lines(noop_log, '"event": "gate"')
            hit = [e["at"] for e in ev if e["gate"] == gate and e["at"] >= t]
            if hit:
                noop_lat.append(min(hit) - t)
        expected = flips * m
        return {
            "agents": m,
            "flips": flips,
            "applied": len(agent_lat),
            "expected": expected,
            "agent_apply_ms": {
                "p50": round(pct(agent_lat, 0.5) * 1000, 1),
                "p99": round(pct(agent_lat, 0.99) * 1000, 1),
                "max": round(max(agent_lat) * 1000, 1),
            }
            if agent_lat
            else None,
            "noop_kopf_handler_ms": {
                "p50": round(statistics.median(noop_lat) * 1000, 1),
                "max": round(max(noop_lat) * 1000, 1),
            }
            if noop_lat
            else None,
        }
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
        noop.send_signal(signal.SIGINT)
        noop.wait(timeout=30)


def real_agent_doc(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name},
        "spec": {"role": "feed", "probes": {"port": 8080}},
    }


def helm(kubeconfig: Path, *args: str) -> None:
    res = subprocess.run(
        [str(build_binaries() / "helm"), "--kubeconfig", str(kubeconfig), *args],
        text=True,
        capture_output=True,
        timeout=600,
    )
    if res.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)}:\n{res.stderr}{res.stdout}")


def agent_pod_ips(plane: ControlPlane, ns: str) -> dict[str, str]:
    """Agent name → the IP of its one running pod."""
    items = json.loads(
        plane.kubectl("-n", ns, "get", "pods", "-l", "quantops.dev/agent", "-o", "json").stdout
    )
    return {
        p["metadata"]["labels"]["quantops.dev/agent"]: p["status"]["podIP"]
        for p in items["items"]
        if p["status"].get("podIP") and not p["metadata"].get("deletionTimestamp")
    }


def flip_to_pods(node: Any, plane: ControlPlane, ns: str, ips: dict[str, str], gate: str) -> list[float]:
    """PATCH the global gate; seconds until each pod's own /status shows it (one thread per pod)."""
    start = threading.Event()
    sent: list[float] = []

    def seen(ip: str) -> float | None:
        start.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                code, body = node.http_get(ip, 8080, "/status", timeout=2)
                if code == 200 and json.loads(body).get("gate") == gate:
                    return time.monotonic() - sent[0]
            except OSError:
                pass
            time.sleep(0.005)
        return None

    with ThreadPoolExecutor(max_workers=len(ips)) as pool:
        futures = [pool.submit(seen, ip) for ip in ips.values()]
        sent.append(time.monotonic())
        patch_gate(plane, ns, gate)
        start.set()
        found = [f.result() for f in futures]
    return [x for x in found if x is not None]


def bench_real_size(node: Any, ns: str, n: int, flips: int, timeout: float) -> dict[str, Any]:
    plane: ControlPlane = node.plane
    names = [f"r{i:03d}" for i in range(n)]
    t0 = time.monotonic()
    apply_docs(plane, ns, [real_agent_doc(a) for a in names])
    while (ready := ready_count(plane, ns)) < n:
        if time.monotonic() - t0 > timeout:
            out = {"n": n, "ready": ready, "timeout_s": timeout, **restart_counts(plane, ns)}
            clear_agents(plane, ns)
            return out
        time.sleep(0.5)
    ready_s = time.monotonic() - t0
    ips = agent_pod_ips(plane, ns)
    lat: list[float] = []
    for i in range(flips):
        lat += flip_to_pods(node, plane, ns, ips, "PAUSE" if i % 2 == 0 else "GO")
    out: dict[str, Any] = {
        "n": n,
        "apply_to_ready_s": round(ready_s, 2),
        "agents_per_s": round(n / ready_s, 2),
        **restart_counts(plane, ns),
        "gate_flips": flips,
        "gate_seen": len(lat),
        "gate_expected": flips * len(ips),
    }
    if lat:
        out["gate_to_pod_status_ms"] = {
            "p50": round(pct(lat, 0.5) * 1000, 1),
            "p99": round(pct(lat, 0.99) * 1000, 1),
            "max": round(max(lat) * 1000, 1),
        }
    clear_agents(plane, ns)
    return out


def restart_counts(plane: ControlPlane, ns: str) -> dict[str, int]:
    """Container restarts by the kubelet and pod restarts by the operator (0 and 0 on a calm run)."""
    pods = json.loads(plane.kubectl("-n", ns, "get", "pods", "-l", "quantops.dev/agent", "-o", "json").stdout)
    agents = json.loads(plane.kubectl("-n", ns, "get", "agents", "-o", "json").stdout)
    return {
        "container_restarts": sum(
            cs.get("restartCount", 0)
            for p in pods["items"]
            for cs in (p.get("status") or {}).get("containerStatuses") or []
        ),
        "operator_restarts": sum((a.get("status") or {}).get("restarts") or 0 for a in agents["items"]),
    }


def clear_agents(plane: ControlPlane, ns: str) -> None:
    """Leave the node idle for the next size: the Agents and their pods gone."""
    plane.kubectl("-n", ns, "delete", "agents", "--all", "--wait=true", "--timeout=110s", check=False)
    deadline = time.monotonic() + 300
    while agent_pod_ips(plane, ns) and time.monotonic() < deadline:
        time.sleep(1)


def bench_real(sizes: list[int], flips: int, timeout: float, tmp: Path) -> dict[str, Any]:
    """apply → Ready and gate flips to each pod's /status on a real kubelet node (hack/realnode.py)."""
    import realnode  # hack/realnode.py (hack/ is on sys.path)

    res = subprocess.run(["bash", str(REPO / "hack" / "build-images.sh")], text=True, capture_output=True)
    if res.returncode != 0:
        raise RuntimeError(f"hack/build-images.sh failed:\n{res.stderr[-4000:]}")
    node = realnode.RealNode(
        workdir=tmp / "realnode", cp_bin=build_binaries(), node_bin=realnode.build_node_binaries()
    )
    node.start()  # waits for the machine lock (another real-node run), stops what it started on failure
    try:
        plane: ControlPlane = node.plane
        ns = "bench"
        chart = REPO / "helm" / "quantops"
        helm(
            node.kubeconfig, "install", "quantops", str(chart), "-n", ns, "--create-namespace",
            "-f", str(chart / "ci" / "dev-values.yaml"), "--set", "samples.enabled=false",
            "--set", f"agent.state.storageClassName={realnode.STORAGE_CLASS}",
            "--wait", "--timeout", "180s",
        )  # fmt: skip
        plane.kubectl("-n", ns, "create", "serviceaccount", "default", check=False)
        global_policy = {
            "apiVersion": "quantops.dev/v1alpha1",
            "kind": "RiskPolicy",
            "metadata": {"name": "global"},
            "spec": {"gate": "GO"},
        }
        plane.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(global_policy))
        results = []
        for n in sizes:
            results.append(bench_real_size(node, ns, n, flips, timeout))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        return {"node_start": {k: round(v, 1) for k, v in node.timings.items()}, "sizes": results}
    finally:
        node.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="50,200,500")
    ap.add_argument("--agents-watching", type=int, default=20)
    ap.add_argument("--flips", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--node", choices=("kwok", "real"), default="kwok")
    ap.add_argument("--real-sizes", default="10,25", help="Agents per run with --node real")
    ns = ap.parse_args()
    # SIGTERM (a killed benchmark, a CI timeout) must still run the finally below, or the control
    # plane's processes outlive the benchmark.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # kwok runs no volume provisioner: the operators started here give traders an emptyDir, as in
    # tests/cluster (a trader's PersistentVolumeClaim would stay Pending and its pod unscheduled).
    os.environ["QUANTOPS_STATE_PERSISTENT"] = "false"
    tmp = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    if ns.node == "real":
        sizes = [int(x) for x in ns.real_sizes.split(",") if x]
        real = bench_real(sizes, ns.flips, ns.timeout, tmp)
        print(json.dumps({"machine": {"cpus": os.cpu_count()}, "real_node": real}, indent=2))
        return 0
    plane = ControlPlane(workdir=tmp / "plane", bin_dir=build_binaries(), nodes=2)
    plane.start()
    try:
        plane.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "generated"))
        plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        result: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count()},
            "apply_to_ready": [],
            "gate_latency": None,
        }
        for n in (int(x) for x in ns.sizes.split(",") if x):
            result["apply_to_ready"].append(bench_apply(plane, n, ns.timeout))
            print(json.dumps(result["apply_to_ready"][-1]), file=sys.stderr, flush=True)
        if ns.agents_watching > 0:
            result["gate_latency"] = bench_gates(plane, ns.agents_watching, ns.flips, tmp)
        print(json.dumps(result, indent=2))
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
