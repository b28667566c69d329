"""Operator benchmark on the real control plane (prints JSON).

usage: .venv/bin/python benchmarks/bench_operator.py [--sizes 50,200,500] [--agents-watching 20] [--flips 10]

1. apply → Ready: `kubectl apply` of N Agents until every Agent reports Ready=True (the operator
   created N Deployments, kube-controller-manager/scheduler/kwok made the pods Ready, and the
   heartbeat Leases — written by this benchmark, since kwok pods run no agent — are fresh).
   Beside it, the same N Agents handled by a do-nothing kopf operator (benchmarks/noop_operator.py)
   on the same plane: kopf's own floor.
2. gate latency: M real agent runtime processes watch their objects; the global RiskPolicy gate
   is patched (HTTP PATCH, no kubectl process in the timing) and the time until each agent has
   applied the new gate is collected over several flips (p50/p99). Beside it, the time until the
   do-nothing kopf handler sees the same patch.
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
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

from controlplane import ControlPlane, build_binaries, free_port, operator_process  # noqa: E402


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


def ready_count(plane: ControlPlane, ns: str) -> int:
    items = json.loads(plane.kubectl("-n", ns, "get", "agents", "-o", "json").stdout)["items"]
    return sum(
        any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (i.get("status") or {}).get("conditions", [])
        )
        for i in items
    )


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
    plane.kubectl("-n", ns, "create", "serviceaccount", "quantops-agent")
    names = [f"a{i:04d}" for i in range(n)]
    plane.kubectl("-n", ns, "apply", "-f", "-", input=as_list([lease_doc(ns, a) for a in names]))
    with operator_process(plane, ns, resync_seconds=10, log_name=f"operator-{n}"):
        t0 = time.monotonic()
        plane.kubectl("-n", ns, "apply", "-f", "-", input=as_list([agent_doc(a) for a in names]))
        while (ready := ready_count(plane, ns)) < n:
            if time.monotonic() - t0 > timeout:
                return {"n": n, "ready": ready, "timeout_s": timeout}
            time.sleep(0.5)
        quantops_s = time.monotonic() - t0
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
            plane.kubectl("-n", ns_noop, "apply", "-f", "-", input=as_list([agent_doc(a) for a in names]))
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
    plane.kubectl("-n", ns, "apply", "-f", "-", input=as_list([agent_doc(a) for a in names]))
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="50,200,500")
    ap.add_argument("--agents-watching", type=int, default=20)
    ap.add_argument("--flips", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=900)
    ns = ap.parse_args()
    # SIGTERM (a killed benchmark, a CI timeout) must still run the finally below, or the control
    # plane's processes outlive the benchmark.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="bench-operator-"))
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
        result["gate_latency"] = bench_gates(plane, ns.agents_watching, ns.flips, tmp)
        print(json.dumps(result, indent=2))
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
