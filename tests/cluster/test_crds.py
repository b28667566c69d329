"""The generated CRDs on the real API server: samples accepted, invalid ones rejected by schema/CEL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from controlplane import ControlPlane

from samples import SAMPLES, invalid_samples

pytestmark = pytest.mark.cluster


def test_valid_samples_accepted(crds_installed: ControlPlane) -> None:
    k = crds_installed.kubectl
    k("create", "namespace", "samples")
    for path in sorted(SAMPLES.glob("*.yaml")):
        k("-n", "samples", "apply", "-f", str(path))
    names = k("-n", "samples", "get", "quantops", "-o", "name").stdout.split()
    assert len(names) == 9  # platform.yaml: 2 RiskPolicies, 2 Strategies, 5 Agents (incl. canary)
    assert "agent.quantops.dev/trader" in names
    # short names and the printer columns are served
    out = k("-n", "samples", "get", "qa").stdout
    assert "ROLE" in out and "GATE" in out and "READY" in out


@pytest.mark.parametrize(("path", "expect"), invalid_samples(), ids=lambda v: getattr(v, "name", ""))
def test_invalid_sample_rejected_by_apiserver(crds_installed: ControlPlane, path: Path, expect: str) -> None:
    res = crds_installed.kubectl("apply", "-n", "default", "--dry-run=server", "-f", str(path), check=False)
    assert res.returncode != 0, f"{path.name} was accepted"
    assert expect in res.stderr, res.stderr


def test_status_subresource_is_separate(crds_installed: ControlPlane) -> None:
    k = crds_installed.kubectl
    body = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": "st", "namespace": "default"},
        "spec": {"role": "trader"},
        "status": {"phase": "Running"},
    }
    k("apply", "-f", "-", input=json.dumps(body))
    got = json.loads(k("get", "agent", "st", "-o", "json").stdout)
    assert "status" not in got or "phase" not in got.get("status", {})  # status ignored on the main resource
    assert got["spec"]["gate"] == "GO"  # schema defaults applied by the server
