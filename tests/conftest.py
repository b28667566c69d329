"""Test layers: pure unit tests run always; `cluster` tests use one real control plane per session.

The control plane is built from Go modules (hack/build-control-plane.sh) and started once per run.
A cluster test never skips: if the plane cannot be built or started, the test fails with the
reason, so CI can never pass by not testing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from controlplane import ControlPlane, build_binaries

REPO = Path(__file__).resolve().parents[1]

_PLANE_ERROR: list[str] = []


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A running etcd + kube-apiserver + controller-manager + scheduler + kwok (one fake node)."""
    if _PLANE_ERROR:
        pytest.fail(f"control plane unavailable: {_PLANE_ERROR[0]}")
    try:
        plane = ControlPlane(
            workdir=tmp_path_factory.mktemp("controlplane"), bin_dir=build_binaries(), nodes=2
        )
        plane.start()
    except Exception as e:  # fail (never skip) every cluster test with the real reason
        _PLANE_ERROR.append(repr(e))
        pytest.fail(f"control plane could not start: {e!r}")
    os.environ["QUANTOPS_TEST_KUBECONFIG"] = str(plane.kubeconfig)
    # kwok runs no volumes: operators started against this plane give traders an emptyDir
    # (the real node in tests/realnode proves the PersistentVolumeClaim path).
    os.environ["QUANTOPS_STATE_PERSISTENT"] = "false"
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def crds_installed(control_plane: ControlPlane) -> ControlPlane:
    """The generated CRDs applied and Established."""
    control_plane.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "generated"))
    control_plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return control_plane
