"""Stable fingerprints of a strategy (code + parameters) and of a data set (roadmap 30).

Why it exists: a promotion must be reproducible — the evidence for "strategy S with params P on
data D" is only valid while S's code, P and D are exactly what was tested. Every backtest result
carries both fingerprints; the pipeline compares them before reusing evidence.

* :func:`fingerprint_strategy` hashes the entrypoint string, the strategy interface version, the
  canonical JSON of the params (sorted keys, camelCase as on the wire when a ``StrategyParams`` is
  given) and the bytes of the module source the entrypoint names, so an edit to the strategy's code
  changes the fingerprint even when the params do not.
* :func:`fingerprint_data` hashes column names, dtypes and values (numbers as little-endian
  float64/int64 bytes, text as UTF-8 with a null marker), in column order. ``lineage_*`` columns are
  excluded: they carry the ingest time, which changes on every load of the same file.

What it must not do: import the strategy module (finding its file is enough) or depend on
polars' internal row hash, which is not stable across versions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from quantops_trading.strategy.base import INTERFACE_VERSION, StrategyParams

__all__ = ["fingerprint_data", "fingerprint_strategy"]

_FORMAT = "quantops-fp/1"


def _module_source(entrypoint: str) -> bytes:
    module, sep, attr = entrypoint.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"entrypoint {entrypoint!r}: expected 'package.module:ClassName'")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as e:
        raise ValueError(f"entrypoint {entrypoint!r}: module {module!r} not importable: {e}") from e
    if spec is None or spec.origin is None or not Path(spec.origin).is_file():
        raise ValueError(f"entrypoint {entrypoint!r}: module {module!r} not found")
    return Path(spec.origin).read_bytes()


def fingerprint_strategy(entrypoint: str, params: Mapping[str, Any] | StrategyParams | None) -> str:
    """sha256 hex of (format, interface version, entrypoint, canonical params, module source)."""
    if isinstance(params, StrategyParams):
        values: Any = params.model_dump(mode="json", by_alias=True)
    elif params is None:
        values = {}
    elif isinstance(params, Mapping):
        values = dict(params)
    else:
        raise TypeError(f"params: expected a mapping or StrategyParams, got {type(params).__name__}")
    try:
        canon = json.dumps(values, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"params of {entrypoint!r}: not canonical JSON: {e}") from e
    h = hashlib.sha256()
    for part in (_FORMAT, str(INTERFACE_VERSION), entrypoint, canon):
        h.update(part.encode())
        h.update(b"\x00")
    h.update(hashlib.sha256(_module_source(entrypoint)).digest())
    return h.hexdigest()


def _hash_column(h: Any, s: pl.Series) -> None:
    """Feed one column's values to ``h`` without copying numeric data (null mask only if any)."""
    dtype = s.dtype
    if dtype.is_float() or dtype.is_integer() or dtype == pl.Boolean:
        wide = pl.Float64 if dtype.is_float() else pl.Int64
        kind = "<f8" if dtype.is_float() else "<i8"
        same = s.dtype == wide and not s.null_count()
        values = s.to_numpy() if same else s.cast(wide).fill_null(0).to_numpy()
        h.update(np.ascontiguousarray(values, dtype=kind).data.cast("B"))
        if s.null_count():
            h.update(b"\x00nulls\x00")
            h.update(np.ascontiguousarray(s.is_null().to_numpy(), dtype=np.uint8).data.cast("B"))
        return
    text = s.cast(pl.String)
    h.update(b"".join(b"\x01" if v is None else v.encode() + b"\x00" for v in text.to_list()))


def fingerprint_data(frame: pl.DataFrame) -> str:
    """sha256 hex of a frame's non-lineage columns: names, dtypes, row count and values."""
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"fingerprint_data: expected a polars DataFrame, got {type(frame).__name__}")
    h = hashlib.sha256()
    h.update(f"{_FORMAT}\x00rows={frame.height}\x00".encode())
    for name in frame.columns:
        if name.startswith("lineage_"):
            continue
        s = frame.get_column(name)
        h.update(f"{name}\x00{s.dtype}\x00".encode())
        col = hashlib.sha256()
        _hash_column(col, s)
        h.update(col.digest())
    return h.hexdigest()
