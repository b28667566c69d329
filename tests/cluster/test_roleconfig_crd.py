"""The Agent CRD on the real API server refuses spec.config keys the role does not take: a key of
no role (strict field validation names it, the server prunes it otherwise), a key of another role
(the role's CEL rule), a misspelt key inside a block, and a bad value — and accepts good ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
from controlplane import ControlPlane

pytestmark = pytest.mark.cluster


def _dry_run(plane: ControlPlane, name: str, role: str, config: dict[str, Any]) -> Any:
    body = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"role": role, "config": config},
    }
    return plane.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(body), check=False)


@pytest.mark.parametrize(
    ("role", "config", "expect"),
    [
        ("trader", {"pollSecond": 1}, 'unknown field "spec.config.pollSecond"'),
        ("trader", {"health": {"p99LimitSecs": 1}}, 'unknown field "spec.config.health.p99LimitSecs"'),
        (
            "supervisor",
            {"intervalSeconds": 5},
            "unknown key for role supervisor: spec.config.intervalSeconds",
        ),
        ("pipeline", {"dashboardPort": 1}, "unknown key for role pipeline: spec.config.dashboardPort"),
        ("feed", {"pollSeconds": 1}, "unknown key for role feed: spec.config.pollSeconds"),
        ("trader", {"orderStyle": "lazy"}, 'spec.config.orderStyle: Unsupported value: "lazy"'),
        ("trader", {"pollSeconds": 0}, "spec.config.pollSeconds: Invalid value"),
    ],
)
def test_the_crd_refuses_a_key_the_role_does_not_take(
    crds_installed: ControlPlane, role: str, config: dict[str, Any], expect: str
) -> None:
    res = _dry_run(crds_installed, "bad-config", role, config)
    assert res.returncode != 0, f"{config} was accepted for role {role}"
    assert expect in res.stderr, res.stderr


def test_the_crd_accepts_every_role_key(crds_installed: ControlPlane) -> None:
    ok = {
        "trader": {"pollSeconds": 0.5, "health": {"p99LimitSeconds": 2}, "notionalPerStrategy": {"a": 1},
                   "allocator": {"minSamples": 1}, "venueName": "sim", "reconcileSeconds": 10},
        "supervisor": {"pollSeconds": 1, "alerts": {"channels": {"f": {"type": "file"}}, "perMinute": 5}},
        "pipeline": {"intervalSeconds": 5, "data": {"NEO/BTC": "x.csv"}, "flags": {"seed": 3}},
        "venue-sim": {"port": 0, "venue": {"symbols": []}},
        "canary": {"gateScope": "global", "failGate": "STOP"},
        "feed": {"exchangeSecret": "keys"},
    }  # fmt: skip
    for role, config in ok.items():
        res = _dry_run(crds_installed, f"ok-{role}", role, config)
        assert res.returncode == 0, res.stderr
