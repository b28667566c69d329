"""Read manifest files and folders (multi-document YAML) into validated objects; fail fast, name the field."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from quantops_api import Agent, ManifestError, parse_all
from quantops_api.manifests import check_references
from quantops_api.meta import CustomResource
from quantops_trading.runtime.roleconfig import RoleConfigError, validate_config


def read_documents(paths: Iterable[Path]) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")) if path.is_dir() else [path]
        if not files:
            raise ManifestError(f"{path}: no *.yaml files")
        for f in files:
            try:
                loaded = list(yaml.safe_load_all(f.read_text()))
            except (OSError, yaml.YAMLError) as e:
                raise ManifestError(f"{f}: cannot read YAML: {e}") from e
            docs += [(f"{f}#{i}", d) for i, d in enumerate(loaded) if d is not None]
    return docs


def load(paths: Iterable[Path]) -> list[CustomResource]:
    objects = parse_all(read_documents(paths))
    check_references(objects)
    check_agent_configs(objects)
    return objects


def check_agent_configs(objects: Iterable[CustomResource]) -> None:
    """Each Agent's spec.config as its agent will check it at start, including the blocks whose
    models live in the trading library (the venue-sim's ``venue``, the pipeline's ``flags``)."""
    errors = []
    for obj in objects:
        if isinstance(obj, Agent):
            try:
                validate_config(obj.spec.role, obj.spec.config)
            except RoleConfigError as e:
                errors.append(f"Agent/{obj.name}: {e}")
    if errors:
        raise ManifestError("\n".join(errors))
