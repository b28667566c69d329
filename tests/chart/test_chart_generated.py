"""The chart's generated files are current, and values.yaml is documented key by key."""

from __future__ import annotations

import json

import yaml

from .conftest import CHART, REPO, load_generator

gen = load_generator()


def test_generated_chart_files_are_current() -> None:
    stale = [str(p.relative_to(REPO)) for p in gen.stale()]
    assert not stale, f"stale generated chart files {stale}: run `.venv/bin/python hack/gen-chart.py`"


def test_values_yaml_is_the_model_defaults() -> None:
    text = (CHART / "values.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=values.schema.json"
    assert yaml.safe_load(text) == gen.ChartValues().model_dump(mode="json")


def test_every_values_key_has_a_comment_and_docs_marker() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if not stripped or stripped.startswith(("#", "-")) or ":" not in stripped:
            continue
        indent = len(line) - len(stripped)
        prev = lines[i - 1].strip() if i else ""
        if prev.startswith("#"):
            assert prev == "# +docs:property", f"line {i + 1}: {line!r} lacks its +docs:property marker"
            assert lines[i - 2].strip().startswith("# "), f"line {i + 1}: {line!r} has no description"
        else:  # a value inside a default map/list (e.g. resources.requests.cpu) is not a key of its own
            assert indent > 0 and not prev.startswith("#"), f"line {i + 1}: {line!r} is undocumented"


def test_schema_is_strict_and_covers_every_key() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert "$ref" not in json.dumps(schema)
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, object], vals: dict[str, object], path: str) -> None:
        props = node["properties"]
        assert isinstance(props, dict)
        assert node.get("additionalProperties") is False, path
        for key, value in vals.items():
            assert key in props, f"{path}.{key} missing from the schema"
            assert props[key].get("description"), f"{path}.{key} has no description"
            if props[key].get("type") == "object" and "properties" in props[key]:
                assert isinstance(value, dict)
                walk(props[key], value, f"{path}.{key}")

    walk(schema, values, "")
    assert schema["properties"]["operator"]["properties"]["replicaCount"]["maximum"] == 1


def test_helm_readme_points_to_the_chart() -> None:
    text = (REPO / "helm" / "README.md").read_text()
    assert "lands with issue" not in text and "quantops/README.md" in text
