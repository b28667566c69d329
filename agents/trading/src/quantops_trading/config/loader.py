"""Layered configuration loading with provenance (roadmap 8).

Why it exists: an agent's settings come from four places, and when one is wrong the operator must
know *which* place to fix. Layers, lowest precedence first:

1. model defaults,
2. YAML files (in the order given; later files win; ``$QUANTOPS_CONFIG`` lists them with ``os.pathsep``),
3. the Kubernetes object config (a dict, e.g. ``Agent.spec.config`` rendered by the operator),
4. environment variables ``QUANTOPS_<SECTION>__<KEY>`` (``__`` separates nesting levels; only
   variables containing ``__`` are config, so ``QUANTOPS_CACHE`` and friends are left alone).

Mappings merge key by key; any other value (lists included) is replaced whole by a higher layer.
Keys are normalised to snake_case, so ``maxOrders`` (Kubernetes style) and ``max_orders`` are the same
key. Every validation error names the key path, pydantic's reason and the layer that set the value.

What it must not do: read files or env that the caller did not ask for (everything is injectable),
or swallow an error: a bad config raises :class:`ConfigError`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from quantops_trading.config.schema import QuantopsConfig

__all__ = ["ENV_FILES_VAR", "ENV_PREFIX", "ConfigError", "LoadedConfig", "load_config"]

ENV_PREFIX = "QUANTOPS_"
ENV_FILES_VAR = "QUANTOPS_CONFIG"
DEFAULT_SOURCE = "default"
KUBERNETES_SOURCE = "kubernetes object config"

M = TypeVar("M", bound=BaseModel)
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


class ConfigError(ValueError):
    """The configuration is invalid; ``problems`` holds one line per error."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid configuration:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class LoadedConfig(Generic[M]):
    """The validated config plus, for every leaf key path that some layer set, where it came from."""

    config: M
    sources: Mapping[str, str] = field(default_factory=dict)

    def source_of(self, path: str) -> str:
        return _source_for(path, self.sources)


def _snake(key: str) -> str:
    return _CAMEL.sub(r"_\1", key).replace("-", "_").lower()


def _normalise(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_snake(str(k)): _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> dict[str, None]:
    out: dict[str, None] = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value:
            out.update(_leaves(value, path))
        else:
            out[path] = None
    return out


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"file {path}: cannot read ({exc.strerror or exc})"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"file {path}: invalid YAML ({exc})"]) from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError([f"file {path}: top level must be a mapping, got {type(data).__name__}"])
    normalised: dict[str, Any] = _normalise(data)
    return normalised


def _parse_env_value(raw: str) -> Any:
    """JSON for structured values (``[...]``, ``{...}``), ``null`` for None; otherwise the raw string
    (pydantic's lax mode turns ``"5"`` into 5 and ``"true"`` into True against the schema)."""
    stripped = raw.strip()
    if stripped[:1] in "[{" or stripped == "null":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return raw
    return raw


def _env_layer(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    tree: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or "__" not in name[len(ENV_PREFIX) :]:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if any(not p for p in parts):
            raise ConfigError([f"env {name}: empty key segment (use QUANTOPS_<SECTION>__<KEY>)"])
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError([f"env {name}: {'.'.join(parts)} conflicts with another variable"])
            node = child
        node[parts[-1]] = _normalise(_parse_env_value(env[name]))
        sources[".".join(parts)] = f"env {name}"
    return tree, sources


def _source_for(path: str, sources: Mapping[str, str]) -> str:
    """The layer that set ``path``: an exact leaf, else the nearest ancestor or descendant set."""
    if path in sources:
        return sources[path]
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in sources:
            return sources[prefix]
    below = [src for key, src in sources.items() if key.startswith(path + ".")]
    return below[-1] if below else DEFAULT_SOURCE


def _describe(exc: ValidationError, sources: Mapping[str, str]) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        if loc and loc[-1].startswith(("function-after", "function-before")):
            loc = loc[:-1]
        path = ".".join(loc) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not in the schema)"
        problems.append(f"{path}: {msg} (from {_source_for(path, sources)})")
    return problems


def files_from_env(env: Mapping[str, str]) -> list[Path]:
    raw = env.get(ENV_FILES_VAR, "")
    return [Path(p) for p in raw.split(os.pathsep) if p]


def load_config(
    files: Sequence[Path | str] | None = None,
    kubernetes: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    model: type[M] = QuantopsConfig,  # type: ignore[assignment]  # default M is QuantopsConfig
) -> LoadedConfig[M]:
    """Load and validate ``model`` from the layers (see the module docstring for precedence).

    ``files=None`` means the files listed in ``$QUANTOPS_CONFIG``; ``env=None`` means ``os.environ``.
    Raises :class:`ConfigError` naming key path, reason and source of every problem.
    """
    environ = os.environ if env is None else env
    paths = files_from_env(environ) if files is None else [Path(p) for p in files]
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []
    for path in paths:
        try:
            layer = _read_yaml(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        merged = _merge(merged, layer)
        sources.update(dict.fromkeys(_leaves(layer), f"file {path}"))
    if kubernetes:
        layer = _normalise(dict(kubernetes))
        merged = _merge(merged, layer)
        sources.update(dict.fromkeys(_leaves(layer), KUBERNETES_SOURCE))
    try:
        env_tree, env_sources = _env_layer(environ)
    except ConfigError as exc:
        problems.extend(exc.problems)
        env_tree, env_sources = {}, {}
    merged = _merge(merged, env_tree)
    sources.update(env_sources)
    if problems:
        raise ConfigError(problems)
    try:
        config = model.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, sources)) from None
    return LoadedConfig(config=config, sources=sources)
