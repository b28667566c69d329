"""The soak's fault schedule: a YAML file expanded under a seed into concrete, timed faults.

Why it exists: a soak is only comparable between runs (and a failure only reproducible) when the
faults it injects are data, not code, and every random choice comes from one seed. A schedule lists
faults at simulated times (``at: 3h``) or in a window a seeded draw picks from (``window: [2h,
22h]``); :func:`expand` turns it into :class:`PlannedFault` rows in simulated seconds, sorted by
start. Two families:

* venue faults (every :data:`~quantops_trading.venue.config.FaultKind` the simulator injects):
  installed through the simulator's ``POST /_sim/faults`` for ``duration``, the rule's fields
  (``path``, ``method``, ``rate``, ``status``, ``skewMs``, ...) passed through and validated by
  :class:`~quantops_trading.venue.config.FaultRule`;
* process and people faults: ``kill_agent`` (``kill -9`` of the agent's process) and
  ``human_gate`` (a person sets ``target``'s gate to ``gate`` through the authenticated supervisor
  API, and sets it back after ``duration``).

It must not do I/O beyond reading the file, nor know how faults are injected (``soak.py``).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from quantops_trading.venue.config import FaultKind, FaultRule

__all__ = [
    "DEFAULT_SCHEDULE",
    "PROCESS_KINDS",
    "SHORT_SCHEDULE",
    "VENUE_KINDS",
    "FaultSpec",
    "PlannedFault",
    "Schedule",
    "expand",
    "load_schedule",
    "parse_duration",
]

DEFAULT_SCHEDULE = Path(__file__).with_name("soak-default.yaml")
SHORT_SCHEDULE = Path(__file__).with_name("soak-short.yaml")
"""The CI form: every fault kind in 2 simulated hours, run at x60 (``quantops soak --short``)."""
VENUE_KINDS: frozenset[str] = frozenset(get_args(FaultKind))
PROCESS_KINDS = frozenset({"kill_agent", "human_gate"})
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(value: str | float | int) -> float:
    """Seconds from ``90``, ``"90s"``, ``"45m"``, ``"1h30m"`` or ``"2d"``."""
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration {value!r}: must be >= 0")
        return float(value)
    text = value.strip().replace(" ", "")
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"duration {value!r}: use seconds or e.g. 90s, 45m, 1h30m, 2d")
    return sum(float(n) * _UNIT[u] for n, u in parts)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class FaultSpec(_Model):
    """One line of the schedule (times are simulated: replay time of the venue's market data)."""

    kind: str
    target: str = ""  # kill_agent: the agent; human_gate: the gate scope; venue faults: the venue agent
    at: float | None = None  # start, simulated seconds from the soak's start
    window: tuple[float, float] | None = None  # or: a seeded draw in [from, to)
    duration: float = 0.0  # simulated seconds (0 for a kill: the supervisor decides the rest)
    gate: Literal["STOP", "PAUSE", "CHECK"] = "STOP"  # human_gate only
    rule: dict[str, Any] = Field(default_factory=dict)  # venue faults: FaultRule fields (camelCase)
    recover: bool = True  # False: by design only a person brings the platform back (e.g. wrong_fill)

    @field_validator("at", "duration", mode="before")
    @classmethod
    def _seconds(cls, v: Any) -> Any:
        return None if v is None else parse_duration(v)

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, v: Any) -> Any:
        if v is None:
            return None
        lo, hi = (parse_duration(x) for x in v)
        if not lo < hi:
            raise ValueError(f"window {v!r}: from must be before to")
        return (lo, hi)

    @model_validator(mode="after")
    def _check(self) -> FaultSpec:
        if self.kind not in VENUE_KINDS | PROCESS_KINDS:
            known = ", ".join(sorted(VENUE_KINDS | PROCESS_KINDS))
            raise ValueError(f"kind {self.kind!r}: not one of {known}")
        if (self.at is None) == (self.window is None):
            raise ValueError(f"{self.kind}: give exactly one of at, window")
        if self.kind in PROCESS_KINDS and not self.target:
            raise ValueError(f"{self.kind}: target is required (an agent name or a gate scope)")
        if self.kind in VENUE_KINDS:
            FaultRule.model_validate({**self.rule, "kind": self.kind})  # refuse a bad rule now
            if self.duration <= 0:
                raise ValueError(f"{self.kind}: a venue fault needs a duration > 0")
        if self.kind == "human_gate" and self.duration <= 0:
            raise ValueError("human_gate: needs a duration > 0 (the person sets the gate back after it)")
        return self


class Schedule(_Model):
    seed: int = 19
    # Bounds in WALL seconds: the agents' loops (trader polls, canary interval, restart backoff)
    # run on wall time; only the market replay is sped up by --speed.
    detect_within_seconds: float = Field(default=30.0, gt=0)
    recover_within_seconds: float = Field(default=60.0, gt=0)
    faults: list[FaultSpec]


class PlannedFault(_Model):
    """One fault as the run injects it: start/end in simulated seconds, with the seed it came from."""

    id: str
    kind: str
    target: str
    start: float
    end: float
    seed: int
    gate: str = ""
    rule: dict[str, Any] = Field(default_factory=dict)
    recover: bool = True

    @property
    def is_venue(self) -> bool:
        return self.kind in VENUE_KINDS


def load_schedule(path: Path | None = None) -> Schedule:
    raw = yaml.safe_load((path or DEFAULT_SCHEDULE).read_text())
    return Schedule.model_validate(raw)


def expand(schedule: Schedule, *, seed: int | None = None, hours: float | None = None) -> list[PlannedFault]:
    """Concrete faults under ``seed`` (default: the schedule's), sorted by start; those starting at
    or after ``hours`` of simulated time are left out (the run is over by then)."""
    seed = schedule.seed if seed is None else seed
    out: list[PlannedFault] = []
    for i, f in enumerate(schedule.faults):
        fseed = seed * 1000 + i
        if f.window is not None:
            lo, hi = f.window
            start = round(random.Random(fseed).uniform(lo, hi), 1)
        else:
            start = float(f.at or 0.0)
        if hours is not None and start >= hours * 3600:
            continue
        target = f.target or ("venue" if f.kind in VENUE_KINDS else "")
        out.append(
            PlannedFault(
                id=f"f{i:02d}-{f.kind}",
                kind=f.kind,
                target=target,
                start=start,
                end=start + f.duration,
                seed=fseed,
                gate=f.gate if f.kind == "human_gate" else "",
                rule={**f.rule, "kind": f.kind} if f.kind in VENUE_KINDS else {},
                recover=f.recover,
            )
        )
    return sorted(out, key=lambda p: (p.start, p.id))
