"""Performance leaderboard with exponentially decayed memory (roadmap 32).

Why it exists: ranking by the latest backtest alone is noisy, ranking by all history forever
rewards strategies that used to work. Each strategy's score is a time-decayed weighted mean of
its observed scores: an observation ``age`` seconds old weighs ``2^(-age/half_life)``. Kept as
(weighted sum, weight, last time) so an update is O(1) and the state is a small JSON file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Leaderboard"]


@dataclass
class _Entry:
    num: float
    den: float
    at: float


@dataclass
class Leaderboard:
    half_life_seconds: float
    entries: dict[str, _Entry] = field(default_factory=dict)

    def _decay(self, since: float, now: float) -> float:
        return float(0.5 ** (max(0.0, now - since) / self.half_life_seconds))

    def update(self, name: str, value: float, at: float) -> float:
        """Add an observation; returns the new score. Non-finite values count as the floor (-10)."""
        v = value if math.isfinite(value) else -10.0
        v = max(-10.0, min(10.0, v))
        e = self.entries.get(name)
        if e is None:
            self.entries[name] = _Entry(v, 1.0, at)
        else:
            d = self._decay(e.at, at)
            self.entries[name] = _Entry(e.num * d + v, e.den * d + 1.0, max(at, e.at))
        return self.score(name)

    def score(self, name: str) -> float:
        e = self.entries[name]
        return e.num / e.den

    def weight(self, name: str, now: float) -> float:
        """How much evidence is behind the score now (decays while no new observation arrives)."""
        e = self.entries[name]
        return e.den * self._decay(e.at, now)

    def ranking(self) -> list[tuple[str, float]]:
        return sorted(((n, self.score(n)) for n in self.entries), key=lambda x: (-x[1], x[0]))

    def forget(self, name: str) -> None:
        self.entries.pop(name, None)

    def save(self, path: Path) -> None:
        data = {n: [e.num, e.den, e.at] for n, e in self.entries.items()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"halfLifeSeconds": self.half_life_seconds, "entries": data}))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, half_life_seconds: float) -> Leaderboard:
        if not path.is_file():
            return cls(half_life_seconds)
        raw = json.loads(path.read_text())
        entries = {n: _Entry(*v) for n, v in raw.get("entries", {}).items()}
        return cls(half_life_seconds, entries)
