"""Every object `helm template` renders is accepted by a real API server (`--dry-run=server`)."""

from __future__ import annotations

import json

import pytest
from controlplane import ControlPlane

from .conftest import VALUES_FILES, Helm

pytestmark = pytest.mark.cluster

NS = "qchart-dry"


@pytest.fixture(scope="module")
def namespace(crds_installed: ControlPlane) -> str:
    crds_installed.kubectl("create", "namespace", NS)
    return NS


@pytest.mark.parametrize("values", VALUES_FILES, ids=lambda v: v or "defaults")
def test_every_rendered_object_passes_server_dry_run(
    crds_installed: ControlPlane, cluster_helm: Helm, namespace: str, values: str
) -> None:
    # No ServiceMonitor CRD on the test plane: render without it here (its rendering is asserted in
    # test_chart_render.py::test_service_monitor_only_when_enabled).
    objs = cluster_helm.objects(
        "--set", "metrics.serviceMonitor.enabled=false", namespace=namespace, values=values
    )
    assert objs
    res = crds_installed.kubectl(
        "apply",
        "--dry-run=server",
        "-n",
        namespace,
        "-o",
        "json",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}),
        check=False,
    )
    assert res.returncode == 0, res.stderr
    accepted = json.loads(res.stdout)
    items = accepted.get("items", [accepted])
    assert sorted((o["kind"], o["metadata"]["name"]) for o in items) == sorted(
        (o["kind"], o["metadata"]["name"]) for o in objs
    )
