"""Where the library finds the shared real market data and its own state.

Kept in one place so tests, demos and agents agree; overridable by environment for CI and pods.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[4]


def repo_root() -> Path:
    """The checkout this library was installed from (editable install)."""
    return _REPO_ROOT


def shared_data_dir() -> Path:
    """Real market data: ``$QUANTOPS_DATA_DIR`` or ``<repo>/../shared/data``."""
    env = os.environ.get("QUANTOPS_DATA_DIR")
    return Path(env) if env else _REPO_ROOT.parent / "shared" / "data"


def state_dir() -> Path:
    """Writable state (event logs, caches): ``$QUANTOPS_STATE_DIR`` or ``<repo>/.quantops``."""
    env = os.environ.get("QUANTOPS_STATE_DIR")
    return Path(env) if env else _REPO_ROOT / ".quantops"
