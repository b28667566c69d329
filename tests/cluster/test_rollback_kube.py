"""`quantops rollback strategy NAME --kube` on the real API server (roadmap 99).

The CLI runs as a user would (kubectl against the test plane via $KUBECONFIG). History lives on the
Strategy in the ``quantops.dev/spec-history`` annotation, appended by ``--record`` after each apply.
Two spec changes, then two rollbacks: v3 → v2 → v1 (not a flip between the last two), each
restoring the exact spec and params; a third rollback has nothing earlier and fails clearly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from controlplane import ControlPlane

from quantops_local.rollback import HISTORY_ANNOTATION

from .conftest import unique

pytestmark = pytest.mark.cluster


def strategy(name: str, params: dict[str, Any], stage: str = "COLD") -> str:
    return json.dumps(
        {
            "apiVersion": "quantops.dev/v1alpha1",
            "kind": "Strategy",
            "metadata": {"name": name},
            "spec": {
                "entrypoint": "quantops_trading.strategies.momentum:Momentum",
                "params": params,
                "pairs": ["BTC/USDT"],
                "desiredStage": stage,
            },
        }
    )


def rollback(plane: ControlPlane, ns: str, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, as a user runs it."""
    cmd = [sys.executable, "-m", "quantops_local.cli", "--kubectl", str(plane.bin_dir / "kubectl")]
    return subprocess.run(
        [*cmd, "rollback", "strategy", name, "--kube", "-n", ns, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUBECONFIG": str(plane.kubeconfig)},
    )


def test_rollback_walks_back_through_the_annotation_history(crds_installed: ControlPlane) -> None:
    plane, ns, name = crds_installed, unique("rb"), "momo"
    plane.kubectl("create", "namespace", ns)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return rollback(plane, ns, name, *args)

    def live() -> dict[str, Any]:
        return dict(json.loads(plane.kubectl("-n", ns, "get", "strategy", name, "-o", "json").stdout))

    versions = [
        ({"fast": 12, "slow": 48, "threshold": 0.0005}, "COLD"),
        ({"fast": 6, "slow": 24, "threshold": 0.001}, "WARM"),
        ({"fast": 3, "slow": 9, "threshold": 0.0}, "HOT"),
    ]
    applied = []
    for params, stage in versions:
        plane.kubectl("-n", ns, "apply", "-f", "-", input=strategy(name, params, stage))
        applied.append(live()["spec"])  # with the server's defaults filled in
        rec = cli("--record")
        assert rec.returncode == 0, rec.stderr
    history = json.loads(live()["metadata"]["annotations"][HISTORY_ANNOTATION])
    assert [h["version"] for h in history] == [1, 2, 3]
    assert [h["spec"] for h in history] == applied
    assert live()["spec"]["params"] == versions[2][0]

    first = cli("--reason", "v3 loses money")
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert (out["fromVersion"], out["toVersion"]) == (3, 2)
    obj = live()
    assert obj["spec"] == applied[1]
    assert obj["spec"]["params"] == versions[1][0] and obj["spec"]["desiredStage"] == "WARM"
    assert obj["metadata"]["annotations"]["quantops.dev/rollback-reason"] == "v3 loses money: v3 → v2"

    second = cli()
    assert second.returncode == 0, second.stderr
    assert (json.loads(second.stdout)["fromVersion"], json.loads(second.stdout)["toVersion"]) == (4, 1)
    obj = live()
    assert obj["spec"] == applied[0] and obj["spec"]["params"] == versions[0][0]
    history = json.loads(obj["metadata"]["annotations"][HISTORY_ANNOTATION])
    restores = [(h["version"], h.get("restores")) for h in history]
    assert restores == [(1, None), (2, None), (3, None), (4, 2), (5, 1)]

    third = cli()
    assert third.returncode == 2
    assert f"strategy {ns}/{name}: no earlier spec than v5" in third.stderr
    assert live()["spec"] == applied[0]  # a failed rollback changes nothing


def test_rollback_without_history_names_the_fix(crds_installed: ControlPlane) -> None:
    plane, ns = crds_installed, unique("rb")
    plane.kubectl("create", "namespace", ns)
    plane.kubectl("-n", ns, "apply", "-f", "-", input=strategy("lonely", {"fast": 2, "slow": 3}))
    res = rollback(plane, ns, "lonely")
    assert res.returncode == 2
    assert "no earlier spec than v1" in res.stderr and "--record" in res.stderr
