"""Turn already-parsed manifest documents into typed objects, with errors that name the field.

Used by `quantops up` (which parses YAML itself) and by agents reading objects from the API.
The error text mirrors the API server's style: `<kind>/<name>: spec.autoscaling.minReplicas: reason`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from quantops_api.meta import GROUP, VERSION, CustomResource
from quantops_api.v1alpha1.agent import Agent
from quantops_api.v1alpha1.riskpolicy import RiskPolicy
from quantops_api.v1alpha1.strategy import Strategy

_BY_KIND: dict[str, type[CustomResource]] = {k.kind_name: k for k in (Agent, Strategy, RiskPolicy)}


class ManifestError(ValueError):
    """A manifest that cannot become an object; the message names source, object and field."""


def field_errors(e: ValidationError) -> list[str]:
    """`path.to.field: reason` for each pydantic error (model-level errors use the parent path)."""
    out = []
    for err in e.errors():
        path = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        # spec.config's errors name their own path inside it (spec.config.health.p99LimitSeconds)
        out.append(f"{path}: {msg}" if path and not msg.startswith(f"{path}.") else msg)
    return out


def parse_object(doc: dict[str, Any], source: str = "<input>") -> CustomResource:
    if not isinstance(doc, dict):
        raise ManifestError(f"{source}: a manifest must be a mapping, got {type(doc).__name__}")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    name = (doc.get("metadata") or {}).get("name", "?")
    if api_version != f"{GROUP}/{VERSION}":
        raise ManifestError(
            f"{source}: {kind}/{name}: apiVersion: expected {GROUP}/{VERSION}, got {api_version!r}"
        )
    model = _BY_KIND.get(str(kind))
    if model is None:
        raise ManifestError(f"{source}: kind: unknown kind {kind!r} (expected one of {sorted(_BY_KIND)})")
    try:
        return model.model_validate(doc)
    except ValidationError as e:
        raise ManifestError(f"{source}: {kind}/{name}: " + "; ".join(field_errors(e))) from e


def parse_all(docs: Iterable[tuple[str, dict[str, Any]]]) -> list[CustomResource]:
    """Parse every (source, document) pair; all errors are reported together, not just the first."""
    objects: list[CustomResource] = []
    errors: list[str] = []
    seen: set[tuple[str, str]] = set()
    for source, doc in docs:
        try:
            obj = parse_object(doc, source)
        except ManifestError as e:
            errors.append(str(e))
            continue
        key = (obj.kind, obj.name)
        if key in seen:
            errors.append(f"{source}: {obj.kind}/{obj.name}: metadata.name: duplicate object")
        seen.add(key)
        objects.append(obj)
    if errors:
        raise ManifestError("\n".join(errors))
    return objects


def check_references(objects: Iterable[CustomResource]) -> None:
    """Cross-object references of one manifest set: Agent → Strategy, Strategy → RiskPolicy.

    On Kubernetes the operator reports these as conditions (objects may arrive in any order);
    a local manifest set is complete, so a dangling reference is an error before anything starts.
    """
    objs = list(objects)
    strategies = {o.name for o in objs if isinstance(o, Strategy)}
    policies = {o.name for o in objs if isinstance(o, RiskPolicy)}
    errors = []
    for o in objs:
        if isinstance(o, Agent):
            errors += [
                f"Agent/{o.name}: spec.strategies: Strategy {s!r} is not defined"
                for s in o.spec.strategies
                if s not in strategies
            ]
        if isinstance(o, Strategy) and o.spec.risk_policy_ref and o.spec.risk_policy_ref not in policies:
            errors.append(
                f"Strategy/{o.name}: spec.riskPolicyRef: RiskPolicy {o.spec.risk_policy_ref!r} is not defined"
            )
    if errors:
        raise ManifestError("\n".join(errors))
