"""One verdict for every manifest: the real API server and `quantops validate` agree.

Hypothesis takes the shipped valid objects (the sample platform and the strategy samples) and
mutates one place of each spec: a wrong type, a negative, zero or huge number, an empty or invalid
name, a duplicate in a list, an agent depending on itself, an unknown key. The object then goes
to both judges — the models `quantops validate` runs (``parse_object`` and the agent-config check)
and the API server (``dryRun=All``, strict field validation, with the generated CRDs) — and both
must say the same: accepted by both, or refused by both.

Out of scope, and said so in docs/security.md: spec.config blocks whose inside the CRD leaves open
(``roleconfig.config_schema``: the venue-sim's ``venue``, whose model lives in the trading library,
the pipeline's ``flags``, ``notionalPerStrategy`` which is an amount or a map): the API server keeps
them as they are, the models (`quantops validate`, the operator, the agent at start) check them.
"""

from __future__ import annotations

import copy
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from controlplane import ControlPlane
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantops_api import Agent, ManifestError
from quantops_api.manifests import parse_object
from quantops_api.v1alpha1.roleconfig import config_schema
from quantops_trading.runtime.roleconfig import RoleConfigError, validate_config

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
PLURAL = {"Agent": "agents", "Strategy": "strategies", "RiskPolicy": "riskpolicies"}


def _valid_docs() -> list[dict[str, Any]]:
    samples = REPO / "crds" / "samples"
    files = [samples / "platform.yaml", *sorted((samples / "strategies").glob("*.yaml"))]
    return [d for f in files for d in yaml.safe_load_all(f.read_text()) if d]


DOCS = _valid_docs()
UNTYPED = {  # untyped, or an object whose inside the CRD leaves open
    k
    for k, node in config_schema()["properties"].items()
    if "type" not in node or (node.get("x-kubernetes-preserve-unknown-fields") and "properties" not in node)
}
HOSTILE: list[Any] = [-1, 0, 10**12, -0.5, "", "x", "Not_A_Name", True, [], {}, None]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place inside a spec (dict keys and list indexes), the spec's own keys included; an
    untyped config block as a whole, not inside."""
    if isinstance(node, dict):
        for k, v in node.items():
            if prefix == ("config",) and k in UNTYPED:
                continue
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    doc = copy.deepcopy(draw(st.sampled_from(DOCS)))
    spec = doc["spec"]
    paths = list(_paths(spec))
    kind = draw(st.sampled_from(["replace", "unknown-key", "duplicate", "self-reference"]))
    if kind == "self-reference" and doc["kind"] == "Agent":
        spec["dependsOn"] = [*spec.get("dependsOn", []), doc["metadata"]["name"]]
        return "dependsOn itself", doc
    if kind == "duplicate":
        lists = [p for p in paths if isinstance(_get(spec, p), list) and _get(spec, p)]
        if lists:
            p = draw(st.sampled_from(lists))
            _get(spec, p).append(copy.deepcopy(_get(spec, p)[0]))
            return f"duplicate in {p}", doc
    if kind == "unknown-key":
        dicts = [(), *[p for p in paths if isinstance(_get(spec, p), dict)]]
        p = draw(st.sampled_from(dicts))
        _get(spec, p)["notAField"] = 1
        return f"unknown key in {p}", doc
    p = draw(st.sampled_from(paths))
    value = draw(st.sampled_from(HOSTILE))
    parent = _get(spec, p[:-1])
    parent[p[-1]] = value
    return f"{p} = {value!r}", doc


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _model_verdict(doc: dict[str, Any]) -> str | None:
    """What `quantops validate` says: None (valid) or its error."""
    try:
        obj = parse_object(doc, "fuzz")
        if isinstance(obj, Agent):
            validate_config(obj.spec.role, obj.spec.config)
    except (ManifestError, RoleConfigError) as e:
        return str(e)
    return None


@pytest.fixture(scope="module")
def api(crds_installed: ControlPlane) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=crds_installed.server,
        verify=ssl.create_default_context(cafile=str(crds_installed.ca_file)),
        headers={"Authorization": f"Bearer {crds_installed.token}"},
        timeout=30,
    ) as client:
        yield client


def _server_verdict(api: httpx.Client, doc: dict[str, Any]) -> str | None:
    doc = {**doc, "metadata": {**doc["metadata"], "namespace": "default"}}
    r = api.post(
        f"/apis/quantops.dev/v1alpha1/namespaces/default/{PLURAL[doc['kind']]}",
        params={"dryRun": "All", "fieldValidation": "Strict"},
        content=json.dumps(doc),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code < 500, r.text
    return None if r.status_code < 300 else str(r.json().get("message"))


def test_every_shipped_object_is_valid_to_both(api: httpx.Client) -> None:
    for doc in DOCS:
        assert _model_verdict(doc) is None and _server_verdict(api, doc) is None, doc["metadata"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=mutated())
def test_the_api_server_and_quantops_validate_give_one_verdict(
    api: httpx.Client, case: tuple[str, dict[str, Any]]
) -> None:
    what, doc = case
    model, server = _model_verdict(doc), _server_verdict(api, doc)
    assert (model is None) == (server is None), (
        f"{doc['kind']}/{doc['metadata']['name']} {what}: quantops validate says {model or 'valid'}; "
        f"the API server says {server or 'valid'}"
    )
