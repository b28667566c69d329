"""The soak's fault schedule: durations, seeded expansion, the default covering every fault kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from quantops_local import faultplan


@pytest.mark.parametrize(
    ("text", "seconds"), [(90, 90.0), ("90s", 90.0), ("45m", 2700.0), ("1h30m", 5400.0), ("2d", 172800.0)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert faultplan.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1x", "h", "1h 2", "-3", ""])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        faultplan.parse_duration(text)


def test_the_default_schedule_covers_every_kind_the_simulator_injects() -> None:
    plan = faultplan.expand(faultplan.load_schedule(), hours=24)
    kinds = {p.kind for p in plan}
    assert kinds >= faultplan.VENUE_KINDS
    assert {p.target for p in plan if p.kind == "kill_agent"} == {
        "trader",
        "canary",
        "pipeline",
        "supervisor",
    }
    assert [p.gate for p in plan if p.kind == "human_gate"] == ["STOP"]
    assert all(0 <= p.start <= p.end <= 24 * 3600 for p in plan)
    assert plan == sorted(plan, key=lambda p: (p.start, p.id))


def test_expansion_is_seeded_and_drops_what_starts_after_the_run() -> None:
    sched = faultplan.load_schedule()
    a, b = faultplan.expand(sched), faultplan.expand(sched)
    assert a == b
    kills = {p.target: p.start for p in a if p.kind == "kill_agent"}
    other = {p.target: p.start for p in faultplan.expand(sched, seed=7) if p.kind == "kill_agent"}
    assert kills != other  # windows draw from the seed
    assert all(p.start < 3 * 3600 for p in faultplan.expand(sched, hours=3))


def test_a_schedule_with_a_bad_rule_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("faults:\n  - {kind: rate_limit, at: 1h, duration: 1m, rule: {rate: 2}}\n")
    with pytest.raises(ValidationError, match="rate"):
        faultplan.load_schedule(bad)
    bad.write_text("faults:\n  - {kind: meteor, at: 1h}\n")
    with pytest.raises(ValidationError, match="meteor"):
        faultplan.load_schedule(bad)
    bad.write_text("faults:\n  - {kind: kill_agent, at: 1h}\n")
    with pytest.raises(ValidationError, match="target"):
        faultplan.load_schedule(bad)
