"""Shared API vocabulary: gates, stages, conditions and the CustomResource base.

Gates are ordered most restrictive first (STOP > PAUSE > CHECK > GO); every effective-gate
computation in the project goes through ``Gate.most_restrictive`` so the order lives in one place.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Literal, Self, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

GROUP = "quantops.dev"
VERSION = "v1alpha1"


class Gate(StrEnum):
    """What an agent may do.

    STOP: nothing but cancels and the unwind ladder. PAUSE: reduce-only. CHECK: dry-run. GO: trade.
    """

    STOP = "STOP"
    PAUSE = "PAUSE"
    CHECK = "CHECK"
    GO = "GO"

    @property
    def severity(self) -> int:
        """Higher is more restrictive."""
        return _GATE_SEVERITY[self]

    @classmethod
    def most_restrictive(cls, *gates: Gate | str | None) -> Gate:
        """The effective gate of several scopes; no gate at all means GO (nothing restricts)."""
        present = [cls(g) for g in gates if g is not None]
        return max(present, key=lambda g: g.severity, default=cls.GO)

    def allows_entries(self) -> bool:
        return self is Gate.GO

    def reaches_venue(self) -> bool:
        return self in (Gate.GO, Gate.PAUSE)


_GATE_SEVERITY = {Gate.GO: 0, Gate.CHECK: 1, Gate.PAUSE: 2, Gate.STOP: 3}


class Stage(StrEnum):
    """Strategy lifecycle: COLD (backtest only) → WARM (paper, CHECK) → HOT (live)."""

    COLD = "COLD"
    WARM = "WARM"
    HOT = "HOT"


def _numeric(annotation: Any) -> bool:
    """``int``, ``float`` or ``Decimal``, possibly ``Annotated`` or ``| None``."""
    if annotation in (int, float, Decimal):
        return True
    return any(_numeric(a) for a in get_args(annotation) if a is not type(None))


def _is_map(annotation: Any) -> bool:
    """``dict[...]``, possibly ``| None``."""
    return get_origin(annotation) is dict or any(_is_map(a) for a in get_args(annotation))


def as_the_api_server_reads(model: type[BaseModel], data: Any) -> Any:
    """The wire rules where pydantic's defaults differ from the API server's structural schema:
    a ``null`` field is pruned (then defaulted), not refused, and a boolean is not a number
    (pydantic would read ``true`` as 1). One place, so `quantops validate` and the API server
    give one verdict (tests/security/test_one_verdict.py)."""
    if not isinstance(data, dict):
        return data
    by_wire = {f.alias or n: f for n, f in model.model_fields.items()} | dict(model.model_fields)
    out = {}
    for key, value in data.items():
        if value is None:
            continue
        field = by_wire.get(key)
        if isinstance(value, bool) and field is not None and _numeric(field.annotation):
            raise ValueError(f"{key}: must be a number, not a boolean")
        if isinstance(value, dict) and field is not None and _is_map(field.annotation):
            value = {k: v for k, v in value.items() if v is not None}  # a map's nulls are pruned too
        out[key] = value
    return out


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields rejected; read as the API server
    reads (:func:`as_the_api_server_reads`)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, use_enum_values=False
    )

    @model_validator(mode="before")
    @classmethod
    def _wire(cls, data: Any) -> Any:
        return as_the_api_server_reads(cls, data)

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict Kubernetes stores (aliases, no nulls)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """A Kubernetes API-conventions condition; lastTransitionTime changes only when status flips."""

    type: str = Field(min_length=1, max_length=316, pattern=r"^[A-Z][A-Za-z0-9]*$")
    status: ConditionStatus
    reason: str = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = Field(default="", max_length=32768)
    last_transition_time: dt.datetime
    observed_generation: int | None = Field(default=None, ge=0)


def set_condition(
    conditions: list[Condition] | tuple[Condition, ...],
    new: Condition,
) -> list[Condition]:
    """Replace the condition of the same type, keeping lastTransitionTime when status is unchanged."""
    out: list[Condition] = []
    replaced = False
    for c in conditions:
        if c.type == new.type:
            keep_time = c.status == new.status
            out.append(
                new.model_copy(update={"last_transition_time": c.last_transition_time}) if keep_time else new
            )
            replaced = True
        else:
            out.append(c)
    if not replaced:
        out.append(new)
    return sorted(out, key=lambda c: c.type)


def get_condition(conditions: list[Condition] | tuple[Condition, ...] | None, type_: str) -> Condition | None:
    return next((c for c in conditions or () if c.type == type_), None)


class ObjectMeta(BaseModel):
    """The subset of metadata the project reads; everything else is kept as-is."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int | None = None
    uid: str | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")


class CustomResource(BaseModel):
    """Base of Agent/Strategy/RiskPolicy; class-level metadata replaces kubebuilder markers."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    kind_name: ClassVar[str]
    plural: ClassVar[str]
    short_names: ClassVar[tuple[str, ...]] = ()
    categories: ClassVar[tuple[str, ...]] = ("quantops",)
    printer_columns: ClassVar[tuple[dict[str, Any], ...]] = ()

    api_version: str = Field(default=f"{GROUP}/{VERSION}", alias="apiVersion")
    kind: str
    metadata: ObjectMeta

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> Self:
        """Parse an object as the API server returns it (status may be absent, managedFields dropped)."""
        return cls.model_validate(body)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @property
    def name(self) -> str:
        return self.metadata.name
