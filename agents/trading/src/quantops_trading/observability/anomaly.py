"""Telemetry-starvation scoring: notice an agent or feed that goes quiet *for it*.

Why it exists (roadmap 94): a fixed "no data for 30 s" rule is wrong both ways — a 1 s feed is long
dead after 30 s, a 5-minute pipeline beat is fine. Each source keeps an EWMA of its own inter-arrival
times; its starvation score is ``silence / ewma`` (how many "normal gaps" it has been quiet). Above
``threshold`` it is starving: the detector emits one NO_GO transition, and one GO when it speaks
again. Sources with fewer than ``min_samples`` gaps are not scored (no normal rate known yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SourceRate", "StarvationDetector", "Transition"]


@dataclass
class SourceRate:
    ewma: float | None = None
    last: float | None = None
    samples: int = 0

    def observe(self, at: float, alpha: float) -> None:
        if self.last is not None and at > self.last:
            gap = at - self.last
            self.ewma = gap if self.ewma is None else alpha * gap + (1 - alpha) * self.ewma
            self.samples += 1
        if self.last is None or at > self.last:
            self.last = at


@dataclass(frozen=True)
class Transition:
    source: str
    state: str  # "NO_GO" (starving) or "GO" (recovered)
    score: float
    silence: float
    normal_gap: float


@dataclass
class StarvationDetector:
    alpha: float = 0.2
    threshold: float = 5.0
    min_samples: int = 3
    floor_seconds: float = 0.05
    rates: dict[str, SourceRate] = field(default_factory=dict)
    starving: set[str] = field(default_factory=set)

    def observe(self, source: str, at: float) -> None:
        """An arrival (a heartbeat, a bar, a message) from ``source`` at time ``at`` (seconds)."""
        self.rates.setdefault(source, SourceRate()).observe(at, self.alpha)

    def score(self, source: str, now: float) -> float:
        r = self.rates.get(source)
        if r is None or r.ewma is None or r.last is None or r.samples < self.min_samples:
            return 0.0
        return max(0.0, now - r.last) / max(r.ewma, self.floor_seconds)

    def scores(self, now: float) -> dict[str, float]:
        return {s: round(self.score(s, now), 3) for s in sorted(self.rates)}

    def check(self, now: float) -> list[Transition]:
        """Transitions since the last check: NO_GO when a source crosses the threshold, GO when
        a starving source is back under it (after a new arrival)."""
        out = []
        for source, r in sorted(self.rates.items()):
            score = self.score(source, now)
            silence = now - r.last if r.last is not None else 0.0
            gap = r.ewma or 0.0
            if score > self.threshold and source not in self.starving:
                self.starving.add(source)
                out.append(Transition(source, "NO_GO", round(score, 2), round(silence, 3), round(gap, 3)))
            elif score <= self.threshold and source in self.starving:
                self.starving.discard(source)
                out.append(Transition(source, "GO", round(score, 2), round(silence, 3), round(gap, 3)))
        return out
