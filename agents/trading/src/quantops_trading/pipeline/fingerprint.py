"""Fingerprints (roadmap 30): the identity every pipeline run, promotion and order carries.

Why it exists: a promotion is only reproducible when we can say exactly which code + params ran on
exactly which data under exactly which flags. Two strategy identities are kept on purpose:

* :func:`spec_fingerprint` — the hash the operator writes to ``Strategy.status.fingerprint``
  (sha256 of canonical ``{entrypoint, params}``, 16 hex), so the pipeline's status writes and the
  operator's agree and never fight over the field;
* :func:`code_fingerprint` — the backtest package's :func:`fingerprint_strategy`, which also hashes
  the strategy module's source, so an edit to the code invalidates cached runs and evidence.

Data windows use the backtest package's :func:`fingerprint_data`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import polars as pl

from quantops_trading.backtest.fingerprint import fingerprint_data, fingerprint_strategy

__all__ = ["code_fingerprint", "data_fingerprint", "run_fingerprint", "spec_fingerprint"]


def spec_fingerprint(entrypoint: str, params: Mapping[str, Any]) -> str:
    """Entrypoint + params hash; equals the operator's ``status.fingerprint``."""
    canon = json.dumps({"entrypoint": entrypoint, "params": dict(params)}, sort_keys=True)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def code_fingerprint(entrypoint: str, params: Mapping[str, Any]) -> str:
    """Entrypoint + params + interface version + module source (the backtest's fingerprint)."""
    return fingerprint_strategy(entrypoint, params)


def data_fingerprint(frame: pl.DataFrame) -> str:
    return fingerprint_data(frame)


def run_fingerprint(*parts: str) -> str:
    """Combine fingerprints (strategy, data, flags, path) into one cache/run key."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
