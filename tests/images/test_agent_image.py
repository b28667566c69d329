"""The agent image as it runs in a pod: read-only root, non-root, health and metrics, graceful SIGTERM."""

from __future__ import annotations

import json
from collections.abc import Callable

from .conftest import Container, Images, docker, wait_http

# As the operator's pods run it: read-only root, writable /tmp and state volume (an anonymous volume
# inherits the image directory's owner, uid 10001), no capabilities.
HARDENED = [
    "--read-only", "--tmpfs", "/tmp", "-v", "/var/lib/quantops",
    "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
]  # fmt: skip
GRACE_SECONDS = 20


def _events(logs: str) -> list[dict[str, object]]:
    out = []
    for line in logs.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_agent_image_serves_health_and_metrics_non_root_on_a_read_only_root(
    images: Images, run_container: Callable[..., Container]
) -> None:
    # The role is the first argument; the control plane URL points nowhere, so the agent must stay
    # alive, count the control errors and fail closed (readiness false) rather than crash.
    c = run_container(
        *HARDENED,
        "-p",
        "127.0.0.1::8080",
        images.agent,
        "trader",
        "--agent",
        "img-test",
        "--control",
        "http://127.0.0.1:9",
    )
    base = f"http://127.0.0.1:{c.host_port()}"
    health = wait_http(f"{base}/healthz", container=c)
    assert health.status_code == 200, health.text
    assert health.json()["alive"] is True
    assert wait_http(f"{base}/readyz").status_code == 503  # control plane unreachable: not ready
    metrics = wait_http(f"{base}/metrics").text
    assert "# TYPE quantops_agent_heartbeats_total counter" in metrics
    assert "quantops_agent_uptime_seconds" in metrics
    assert 'quantops_agent_effective_gate{gate="' in metrics

    info = c.inspect()
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    uid = docker("exec", c.cid, "id", "-u").stdout.strip()
    assert uid == "10001" and uid != "0"
    proc_status = docker("exec", c.cid, "cat", "/proc/1/status").stdout
    uids = next(line.split()[1:] for line in proc_status.splitlines() if line.startswith("Uid:"))
    assert "0" not in uids, f"PID 1 runs with uid 0 somewhere: {uids}"
    denied = docker("exec", c.cid, "touch", "/opt/quantops/probe", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    assert docker("exec", c.cid, "touch", "/tmp/probe").returncode == 0  # the tmpfs is writable
    env = docker("exec", c.cid, "printenv", "QUANTOPS_STATE_DIR").stdout.strip()
    assert env == "/var/lib/quantops"
    assert docker("exec", c.cid, "touch", f"{env}/probe").returncode == 0


def test_agent_image_exits_gracefully_on_sigterm_within_the_grace_period(
    images: Images, run_container: Callable[..., Container]
) -> None:
    c = run_container(
        *HARDENED,
        "-p",
        "127.0.0.1::8080",
        images.agent,
        "--role",
        "trader",
        "--agent",
        "img-stop",
        "--control",
        "http://127.0.0.1:9",
    )
    wait_http(f"http://127.0.0.1:{c.host_port()}/healthz", container=c)
    # docker stop sends SIGTERM, then SIGKILL after the grace period: exit code 0 (not 137) proves the
    # agent finished its shutdown sequence itself, inside the grace period.
    docker("stop", "-t", str(GRACE_SECONDS), c.cid, timeout=GRACE_SECONDS + 30)
    state = c.inspect()["State"]
    logs = c.logs()
    assert state["ExitCode"] == 0, f"exit {state['ExitCode']}; logs:\n{logs[-3000:]}"
    assert state["OOMKilled"] is False
    events = _events(logs)
    stopping = [e for e in events if e.get("event") == "agent_stopping"]
    stopped = [e for e in events if e.get("event") == "agent_stopped"]
    assert stopping and stopping[0]["signal"] == "SIGTERM"
    assert stopped, logs[-3000:]
    steps = stopped[-1]["steps"]
    assert isinstance(steps, list) and steps[0] == "stopped-new-work"
    assert "flushed-event-log" in steps
