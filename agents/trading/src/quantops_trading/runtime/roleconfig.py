"""An agent's ``spec.config`` checked whole before any work starts: the role's model, then the
blocks whose models live in this library.

Why it exists: ``quantops_api.v1alpha1.roleconfig`` (which may import only pydantic) types every
role key but keeps two blocks opaque: the venue-sim's ``venue`` (:class:`VenueConfig`) and the
pipeline's ``flags`` (:class:`RunFlags`). :func:`validate_config` adds those, with the same error
format (``spec.config.venue.symbols[0].tickSize: ...``, a closest-key hint for an unknown key), so
``quantops validate``, ``quantops up`` and the agent runtime refuse exactly the same configs.
What it must not do: start anything, read files or touch the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from quantops_api.v1alpha1.roleconfig import (
    AlertsConfig,
    PipelineConfig,
    RoleConfig,
    RoleConfigError,
    VenueSimConfig,
    describe_errors,
    role_config,
)
from quantops_trading.pipeline.flags import RunFlags
from quantops_trading.venue.config import VenueConfig

__all__ = ["RoleConfigError", "alerts_dict", "config_or_exit", "validate_config"]

M = TypeVar("M", bound=RoleConfig)


def _block(role: str, model: type[BaseModel], data: Any, path: str, out: list[tuple[str, str]]) -> None:
    try:
        model.model_validate(data)
    except ValidationError as e:
        out += describe_errors(role, model, e, path)


def validate_config(
    role: str, config: Mapping[str, Any] | None, *, prefix: str = "spec.config"
) -> RoleConfig:
    """``config`` as ``role``'s typed model; :class:`RoleConfigError` names every bad field."""
    typed = role_config(role, config, prefix=prefix)
    problems: list[tuple[str, str]] = []
    if isinstance(typed, VenueSimConfig):
        if typed.venue is None:
            problems.append((f"{prefix}.venue", "required: the simulated venue (VenueConfig)"))
        else:
            _block(role, VenueConfig, typed.venue, f"{prefix}.venue", problems)
    if isinstance(typed, PipelineConfig):
        _block(role, RunFlags, typed.flags, f"{prefix}.flags", problems)
    if problems:
        raise RoleConfigError(problems)
    return typed


def config_or_exit(model: type[M], config: Mapping[str, Any] | M) -> M:
    """A role's typed config (validated here when given raw); a bad one ends the agent with the
    message naming the field (``SystemExit``), before the role does anything."""
    if isinstance(config, RoleConfig):
        if not isinstance(config, model):
            raise SystemExit(f"spec.config: a {type(config).__name__} is not a {model.__name__}")
        return config
    try:
        typed = validate_config(model.role, config)
    except RoleConfigError as e:
        raise SystemExit(str(e)) from None
    assert isinstance(typed, model)
    return typed


def alerts_dict(alerts: AlertsConfig) -> dict[str, Any]:
    """The wire form ``observability.alerts.router_from_config`` reads (unset keys left out)."""
    return alerts.model_dump(mode="json", by_alias=True, exclude_none=True)
