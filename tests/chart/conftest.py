"""Chart-test helpers: the helm binary from hack/build-control-plane.sh, rendering, the generator."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from controlplane import ControlPlane, build_binaries, kubeconfig_text

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "quantops"
VALUES_FILES = ["", "ci/dev-values.yaml", "ci/staging-values.yaml", "ci/prod-values.yaml"]


def load_generator() -> ModuleType:
    """hack/gen-chart.py as a module (its file name is not importable)."""
    spec = importlib.util.spec_from_file_location("gen_chart", REPO / "hack" / "gen-chart.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gen_chart"] = mod  # pydantic resolves the models' annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


class Helm:
    """The helm binary with its state (cache, config, repos) kept in a temporary directory."""

    def __init__(self, binary: Path, home: Path, kubeconfig: Path | None = None) -> None:
        self.binary, self.kubeconfig = binary, kubeconfig
        self.env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kube = ["--kubeconfig", str(self.kubeconfig)] if self.kubeconfig else []
        res = subprocess.run(
            [str(self.binary), *args, *kube], env=self.env, text=True, capture_output=True, timeout=300
        )
        if check and res.returncode != 0:
            raise AssertionError(
                f"helm {' '.join(args)} failed ({res.returncode}):\n{res.stderr}{res.stdout}"
            )
        return res

    def template(self, *args: str, namespace: str = "quantops", values: str = "") -> str:
        files = ["-f", str(CHART / values)] if values else []
        return self("template", "qo", str(CHART), "-n", namespace, *files, *args).stdout

    def objects(self, *args: str, namespace: str = "quantops", values: str = "") -> list[dict[str, Any]]:
        return [d for d in yaml.safe_load_all(self.template(*args, namespace=namespace, values=values)) if d]


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    """The helm binary; building it is part of the control-plane build (fails, never skips)."""
    try:
        return build_binaries() / "helm"
    except Exception as e:
        pytest.fail(f"helm could not be built: {e!r}")


@pytest.fixture(scope="session")
def helm(helm_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_bin, tmp_path_factory.mktemp("helm"))


@pytest.fixture(scope="session")
def cluster_helm(
    helm_bin: Path, crds_installed: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Helm:
    return Helm(helm_bin, tmp_path_factory.mktemp("helm-cluster"), crds_installed.kubeconfig)


def find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def as_account(plane: ControlPlane, ns: str, account: str, pod: str | None = None) -> ControlPlane:
    """The plane authenticated as ServiceAccount ``account`` of ``ns``; with ``pod``, by a token
    bound to that pod — what the kubelet mounts into it. The chart's Lease admission policy reads
    the asking pod from such a token (an agent pod writes only its own agent's Leases); an unbound
    token writes none."""
    bind: list[str] = []
    if pod is not None:
        uid = json.loads(plane.kubectl("-n", ns, "get", "pod", pod, "-o", "json").stdout)["metadata"]["uid"]
        bind = ["--bound-object-kind=Pod", f"--bound-object-name={pod}", f"--bound-object-uid={uid}"]
    token = plane.kubectl("-n", ns, "create", "token", account, "--duration=1h", *bind).stdout.strip()
    workdir = plane.workdir / f"as-{ns}-{account}-{pod or 'sa'}"
    workdir.mkdir(exist_ok=True)
    bound = dataclasses.replace(plane, workdir=workdir, procs={})
    bound.kubeconfig.write_text(kubeconfig_text(plane.server, plane.ca_file, token, user=account))
    return bound


def as_pod(plane: ControlPlane, ns: str, pod: str, account: str) -> ControlPlane:
    """:func:`as_account` with a token bound to ``pod``."""
    return as_account(plane, ns, account, pod)


def agent_pod(plane: ControlPlane, ns: str, agent: str) -> str | None:
    """The name of a pod of ``agent``'s Deployment (the operator's), once there is one."""
    out = plane.kubectl("-n", ns, "get", "pods", "-l", f"quantops.dev/agent={agent}", "-o", "json").stdout
    live = [p["metadata"] for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]
    return str(live[0]["name"]) if live else None
