"""Every valid sample parses with the models; every invalid one is rejected naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from quantops_api import Agent, ManifestError, RiskPolicy, Strategy, parse_all, parse_object
from samples import invalid_samples, valid_docs


def test_valid_platform_parses() -> None:
    objs = parse_all(valid_docs())
    kinds = [o.kind for o in objs]
    assert kinds.count("Agent") == 5 and kinds.count("Strategy") == 2 and kinds.count("RiskPolicy") == 2
    roles = {o.spec.role for o in objs if isinstance(o, Agent)}
    assert roles == {"venue-sim", "trader", "pipeline", "supervisor", "canary"}
    assert any(isinstance(o, RiskPolicy) and o.name == "global" for o in objs)
    assert all(isinstance(o, Agent | Strategy | RiskPolicy) for o in objs)


@pytest.mark.parametrize(("path", "expect"), invalid_samples(), ids=lambda v: getattr(v, "name", ""))
def test_invalid_sample_rejected_by_models(path: Path, expect: str) -> None:
    doc = yaml.safe_load(path.read_text())
    with pytest.raises(ManifestError) as e:
        parse_object(doc, path.name)
    # The model error names the field by its wire path (without the leading "spec." the server adds).
    field = expect.removeprefix("spec.").split(" ")[0].split(".")[-1]
    assert field in str(e.value), str(e.value)


def test_parse_all_reports_every_error_with_source() -> None:
    docs = [
        (
            "a.yaml",
            {
                "apiVersion": "quantops.dev/v1alpha1",
                "kind": "Agent",
                "metadata": {"name": "x"},
                "spec": {"role": "nope"},
            },
        ),
        ("b.yaml", {"apiVersion": "v1", "kind": "Agent", "metadata": {"name": "y"}}),
        ("c.yaml", {"apiVersion": "quantops.dev/v1alpha1", "kind": "Gadget", "metadata": {"name": "z"}}),
    ]
    with pytest.raises(ManifestError) as e:
        parse_all(docs)
    msg = str(e.value)
    assert "a.yaml: Agent/x: spec.role" in msg
    assert "b.yaml: Agent/y: apiVersion" in msg
    assert "c.yaml: kind: unknown kind 'Gadget'" in msg


def test_duplicate_objects_rejected() -> None:
    doc = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": "x"},
        "spec": {"role": "trader"},
    }
    with pytest.raises(ManifestError, match="duplicate"):
        parse_all([("a", doc), ("b", doc)])


def test_dangling_references_are_errors_naming_the_field() -> None:
    from quantops_api.manifests import check_references

    check_references(parse_all(valid_docs()))  # the sample platform is complete
    docs = [
        (
            "a",
            {
                "apiVersion": "quantops.dev/v1alpha1",
                "kind": "Agent",
                "metadata": {"name": "t"},
                "spec": {"role": "trader", "strategies": ["ghost"]},
            },
        ),
        (
            "b",
            {
                "apiVersion": "quantops.dev/v1alpha1",
                "kind": "Strategy",
                "metadata": {"name": "s"},
                "spec": {"entrypoint": "a.b:C", "pairs": ["BTC/USDT"], "riskPolicyRef": "nope"},
            },
        ),
    ]
    with pytest.raises(ManifestError) as e:
        check_references(parse_all(docs))
    assert "Agent/t: spec.strategies: Strategy 'ghost' is not defined" in str(e.value)
    assert "Strategy/s: spec.riskPolicyRef: RiskPolicy 'nope' is not defined" in str(e.value)
