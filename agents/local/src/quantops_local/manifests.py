"""Read manifest files and folders (multi-document YAML) into validated objects; fail fast, name the field."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from quantops_api import ManifestError, parse_all
from quantops_api.manifests import check_references
from quantops_api.meta import CustomResource


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
    return objects
