"""Run deduplication (roadmap 26): same data + same strategy fingerprint → reuse the result.

Why it exists: a pipeline cycle every few minutes re-sees the same candle window most of the
time; re-running identical backtests buys nothing. Results are stored under
``run_fingerprint(strategy, data, flags, path)`` as JSON files, so a restart keeps the cache and a
change to the code, params, data *or* any run flag misses it.
"""

from __future__ import annotations

import os
from pathlib import Path

from quantops_trading.pipeline.evaluator import Evaluation
from quantops_trading.pipeline.fingerprint import run_fingerprint

__all__ = ["RunCache"]


class RunCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(strategy_fp: str, data_fp: str, flags_fp: str, path: str) -> str:
        return run_fingerprint(strategy_fp, data_fp, flags_fp, path)

    def get(self, key: str) -> Evaluation | None:
        f = self.root / f"{key}.json"
        if not f.is_file():
            self.misses += 1
            return None
        try:
            ev = Evaluation.from_json(f.read_text())
        except (ValueError, TypeError, KeyError):
            self.misses += 1  # a torn/corrupt entry is a miss, rewritten by put()
            return None
        self.hits += 1
        return ev

    def put(self, key: str, ev: Evaluation) -> None:
        tmp = self.root / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(ev.to_json())
        os.replace(tmp, self.root / f"{key}.json")
