"""Telemetry starvation (roadmap 94): quiet relative to a source's own normal rate → NO_GO, then GO."""

from __future__ import annotations

from quantops_trading.observability.anomaly import StarvationDetector


def test_each_source_is_judged_against_its_own_rate() -> None:
    d = StarvationDetector(alpha=0.3, threshold=5.0, min_samples=3)
    for i in range(10):
        d.observe("fast", i * 1.0)  # 1 s beats
        d.observe("slow", i * 60.0)  # 60 s beats
    now = 540.0 + 20.0  # slow: 20 s after its last beat; fast: 551 s after its last beat
    assert d.score("slow", now) < 1.0
    assert d.score("fast", now) > 500
    tr = d.check(now)
    assert [(t.source, t.state) for t in tr] == [("fast", "NO_GO")]
    assert tr[0].normal_gap == 1.0
    assert d.check(now + 1) == [], "one NO_GO per episode"
    d.observe("fast", now + 2)
    assert [(t.source, t.state) for t in d.check(now + 2.5)] == [("fast", "GO")]


def test_threshold_is_relative_and_young_sources_are_not_scored() -> None:
    d = StarvationDetector(threshold=5.0, min_samples=3)
    d.observe("new", 0.0)
    d.observe("new", 1.0)
    assert d.score("new", 100.0) == 0.0 and d.check(100.0) == []
    for t in (2.0, 3.0, 4.0):
        d.observe("new", t)
    assert d.check(4.0 + 4.9) == [], "4.9 normal gaps is under the threshold"
    assert [t.state for t in d.check(4.0 + 5.5)] == ["NO_GO"]
    assert d.scores(9.5) == {"new": 5.5}
