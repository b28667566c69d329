"""crds/generated is the golden output of the generator: a stale file fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from quantops_api import crdgen
from quantops_api.crdgen import KINDS, file_name, render, structural

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind_name)
def test_generated_crd_is_current(kind: type) -> None:
    committed = (REPO / "crds" / "generated" / file_name(kind)).read_text()
    assert committed == render(kind), "crds/generated is stale: run `.venv/bin/python -m quantops_api.crdgen`"


def _walk(node: object) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    if isinstance(node, dict):
        out.append(node)
        for v in node.values():
            out += _walk(v)
    elif isinstance(node, list):
        for v in node:
            out += _walk(v)
    return out


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind_name)
def test_schema_is_structural(kind: type) -> None:
    crd = yaml.safe_load(render(kind))
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for node in _walk(schema):
        assert "$ref" not in node and "anyOf" not in node and "title" not in node and "const" not in node
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            assert node.get(bound, True) is True  # boolean form only
        if "properties" in node:
            assert node.get("type") == "object"


def test_crd_metadata_from_class_vars() -> None:
    crd = crdgen.crd_for(KINDS[0])
    names = crd["spec"]["names"]
    assert names["categories"] == ["quantops"]
    assert "qa" in names["shortNames"]
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    cols = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Ready", "Gate", "Phase", "Age"} <= cols
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["properties"]["conditions"]["x-kubernetes-list-type"] == "map"


def test_rewrite_rules() -> None:
    src = {
        "$defs": {
            "X": {"title": "X", "type": "object", "properties": {"a": {"type": "integer", "const": 3}}}
        },
        "type": "object",
        "properties": {
            "x": {"anyOf": [{"$ref": "#/$defs/X"}, {"type": "null"}], "default": None},
            "n": {"type": "number", "exclusiveMinimum": 0},
            "free": {"type": "object", "additionalProperties": True},
        },
    }
    out = structural(src)
    assert out["properties"]["x"] == {"type": "object", "properties": {"a": {"type": "integer", "enum": [3]}}}
    assert out["properties"]["n"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
    assert out["properties"]["free"]["x-kubernetes-preserve-unknown-fields"] is True
