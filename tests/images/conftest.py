"""Image-test fixtures: both images built by hack/build-images.sh (cached), and containers run by docker.

Docker is a hard requirement here: if the engine cannot start or the build fails, every image test
fails with the reason (never skips), so CI cannot pass by not testing the images.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from controlplane import ControlPlane, kubeconfig_text

REPO = Path(__file__).resolve().parents[2]


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["docker", *args], text=True, capture_output=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({res.returncode}): {res.stderr[-2000:]}")
    return res


@dataclass(frozen=True)
class Images:
    operator: str
    agent: str


@pytest.fixture(scope="session")
def images() -> Images:
    """Both images for the current sources (cached: a no-op when nothing changed)."""
    res = subprocess.run(
        ["bash", str(REPO / "hack" / "build-images.sh"), "--print-tags"],
        text=True,
        capture_output=True,
        timeout=900,
    )
    if res.returncode != 0:
        pytest.fail(f"hack/build-images.sh failed ({res.returncode}):\n{res.stderr[-4000:]}")
    tags = dict(line.split("=", 1) for line in res.stdout.split() if "=" in line)
    return Images(operator=tags["operator"], agent=tags["agent"])


@dataclass
class Container:
    cid: str

    def logs(self) -> str:
        res = docker("logs", self.cid, check=False)
        return res.stdout + res.stderr

    def inspect(self) -> dict[str, Any]:
        return dict(json.loads(docker("inspect", self.cid).stdout)[0])

    def host_port(self, port: int = 8080) -> int:
        out = docker("port", self.cid, f"{port}/tcp").stdout.split()[0]
        return int(out.rsplit(":", 1)[1])


@pytest.fixture
def run_container() -> Iterator[Callable[..., Container]]:
    """`docker run -d ...`; every container started is removed at the end of the test."""
    started: list[str] = []

    def run(*args: str) -> Container:
        name = f"quantops-test-{uuid.uuid4().hex[:8]}"
        cid = docker("run", "-d", "--name", name, *args).stdout.strip()
        started.append(cid)
        return Container(cid)

    yield run
    for cid in started:
        docker("rm", "-f", "-v", cid, check=False)  # -v: with its anonymous volumes


def wait_http(url: str, timeout: float = 60.0, container: Container | None = None) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError as e:
            last = e
        time.sleep(0.25)
    logs = container.logs()[-3000:] if container else ""
    raise AssertionError(f"{url} did not answer within {timeout}s ({last!r}); container logs:\n{logs}")


@pytest.fixture
def container_kubeconfig(crds_installed: ControlPlane, tmp_path: Path) -> list[str]:
    """`docker run` flags giving a non-root container the plane's kubeconfig (host network, files 0644)."""
    plane = crds_installed
    ca = tmp_path / "ca.crt"
    ca.write_bytes(plane.ca_file.read_bytes())
    kcfg = tmp_path / "kubeconfig"
    kcfg.write_text(kubeconfig_text(plane.server, Path("/kube/ca.crt"), plane.token))
    for f in (ca, kcfg):
        f.chmod(0o644)
    return [
        "--network",
        "host",
        "-v",
        f"{ca}:/kube/ca.crt:ro",
        "-v",
        f"{kcfg}:/kube/config:ro",
        "-e",
        "KUBECONFIG=/kube/config",
    ]
