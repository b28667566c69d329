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
  excluded: they carry the ingest time, which changes on every load of the same file. Each
  column's bytes get their own sha256 (combined in column order), so large frames hash their
  columns on worker threads (:func:`start_fingerprint_data`; sha256 releases the GIL) with the
  same result as one after the other.

What it must not do: import the strategy module (finding its file is enough) or depend on
polars' internal row hash, which is not stable across versions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from quantops_trading.strategy.base import INTERFACE_VERSION, StrategyParams

__all__ = ["fingerprint_data", "fingerprint_strategy", "start_fingerprint_data"]

_FORMAT = "quantops-fp/1"
_Bytes = bytes | memoryview


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


_PARALLEL_MIN_BYTES = 1 << 20  # below this, hashing inline is cheaper than handing work to threads
_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The module's hashing threads (created on first use, and again in a forked child)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            workers = max(1, min(4, os.cpu_count() or 1))
            _pool = (os.getpid(), ThreadPoolExecutor(workers, thread_name_prefix="quantops-fingerprint"))
        return _pool[1]


def _column_parts(s: pl.Series) -> list[_Bytes]:
    """The bytes one column's digest is made of; numeric data as views of its buffer, no copies."""
    dtype = s.dtype
    if dtype.is_float() or dtype.is_integer() or dtype == pl.Boolean:
        wide = pl.Float64 if dtype.is_float() else pl.Int64
        kind = "<f8" if dtype.is_float() else "<i8"
        nulls = s.null_count()
        values = s.to_numpy() if s.dtype == wide and not nulls else s.cast(wide).fill_null(0).to_numpy()
        parts: list[_Bytes] = [np.ascontiguousarray(values, dtype=kind).data.cast("B")]
        if nulls:
            parts += [
                b"\x00nulls\x00",
                np.ascontiguousarray(s.is_null().to_numpy(), dtype=np.uint8).data.cast("B"),
            ]
        return parts
    text = s.cast(pl.String)
    return [b"".join(b"\x01" if v is None else v.encode() + b"\x00" for v in text.to_list())]


def _digest(parts: list[_Bytes]) -> bytes:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)  # releases the GIL for large buffers: columns hash in parallel
    return h.digest()


def start_fingerprint_data(frame: pl.DataFrame) -> Callable[[], str]:
    """Start :func:`fingerprint_data` on the hashing threads; call the result for the hex digest.

    The digest is the very one :func:`fingerprint_data` returns (same bytes, same order): only
    the per-column sha256s run concurrently, with each other and with the caller, which can
    simulate while the data is hashed. Errors are raised by the call.
    """
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"fingerprint_data: expected a polars DataFrame, got {type(frame).__name__}")
    head = [f"{_FORMAT}\x00rows={frame.height}\x00".encode()]
    columns: list[list[_Bytes]] = []
    for name in frame.columns:
        if name.startswith("lineage_"):
            continue
        s = frame.get_column(name)
        head.append(f"{name}\x00{s.dtype}\x00".encode())
        columns.append(_column_parts(s))
    size = sum(memoryview(p).nbytes for parts in columns for p in parts)
    if size < _PARALLEL_MIN_BYTES or len(columns) < 2:
        digests = [_digest(parts) for parts in columns]
        return lambda: _combine(head, digests)
    futures = [_executor().submit(_digest, parts) for parts in columns]
    return lambda: _combine(head, [f.result() for f in futures])


def _combine(head: list[bytes], digests: list[bytes]) -> str:
    h = hashlib.sha256(head[0])
    for label, digest in zip(head[1:], digests, strict=True):
        h.update(label)
        h.update(digest)
    return h.hexdigest()


def fingerprint_data(frame: pl.DataFrame) -> str:
    """sha256 hex of a frame's non-lineage columns: names, dtypes, row count and values."""
    return start_fingerprint_data(frame)()
