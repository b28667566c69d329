"""Pure orchestration decisions (roadmap 11-19): ordering, backoff, recycle, gates, scaling, recovery.

No cluster, no network, no wall clock: every time is an explicit `now` datetime.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantops_api.meta import Gate
from quantops_api.orchestration import (
    DependencyError,
    backoff_delay,
    cycle_members,
    desired_replicas,
    effective_gate,
    find_cycle,
    health_decision,
    heartbeat_stale,
    recycle_decision,
    startup_order,
    unmet_dependencies,
)
from quantops_api.v1alpha1.agent import AutoscalingSpec, BackoffSpec, RecycleSpec

T0 = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


# -- 11/12: startup order -------------------------------------------------------------------------


def test_startup_order_waves_are_sorted_and_respect_dependencies() -> None:
    graph = {
        "trader": ["feed", "venue-sim"],
        "feed": [],
        "venue-sim": [],
        "supervisor": ["trader"],
        "pipeline": ["feed"],
    }
    assert startup_order(graph) == [["feed", "venue-sim"], ["pipeline", "trader"], ["supervisor"]]


def test_startup_order_is_deterministic_regardless_of_input_order() -> None:
    a = {"c": ["a"], "b": ["a"], "a": [], "d": ["c", "b"]}
    b = {"a": [], "d": ["b", "c", "b"], "b": ["a"], "c": ["a"]}
    assert startup_order(a) == startup_order(b) == [["a"], ["b", "c"], ["d"]]


def test_startup_order_empty_and_independent() -> None:
    assert startup_order({}) == []
    assert startup_order({"z": [], "a": [], "m": []}) == [["a", "m", "z"]]


def test_startup_order_every_agent_placed_after_its_dependencies() -> None:
    graph = {f"n{i}": [f"n{j}" for j in range(i) if (i * 7 + j) % 3 == 0] for i in range(12)}
    waves = startup_order(graph)
    wave_of = {n: k for k, wave in enumerate(waves) for n in wave}
    assert set(wave_of) == set(graph)
    for n, deps in graph.items():
        assert all(wave_of[d] < wave_of[n] for d in deps)


def test_startup_order_cycle_raises_dependency_cycle_with_path() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "root": []}
    with pytest.raises(DependencyError) as exc:
        startup_order(graph)
    assert exc.value.reason == "DependencyCycle"
    assert "a -> b -> c -> a" in str(exc.value)
    assert exc.value.agents == ("a", "b", "c", "a")


def test_startup_order_self_dependency_is_a_cycle() -> None:
    with pytest.raises(DependencyError) as exc:
        startup_order({"a": ["a"]})
    assert exc.value.reason == "DependencyCycle"
    assert "a -> a" in str(exc.value)


def test_startup_order_missing_reference_raises_dependency_missing() -> None:
    with pytest.raises(DependencyError) as exc:
        startup_order({"trader": ["feed", "ghost"], "feed": []})
    assert exc.value.reason == "DependencyMissing"
    assert "trader -> ghost" in str(exc.value)
    assert exc.value.agents == ("trader",)


def test_find_cycle_closed_path_or_empty() -> None:
    assert find_cycle({"a": ["b"], "b": []}) == []
    assert find_cycle({"x": ["y"], "y": ["z"], "z": ["y"]}) == ["y", "z", "y"]


def test_cycle_members_only_nodes_on_a_cycle() -> None:
    graph = {"a": ["b"], "b": ["a"], "c": ["a"], "d": ["d"], "e": [], "f": ["ghost"]}
    assert cycle_members(graph) == {"a", "b", "d"}
    assert cycle_members({"a": ["b"], "b": []}) == set()


def test_unmet_dependencies_missing_counts_as_not_ready() -> None:
    ready = {"feed": True, "venue-sim": False}
    assert unmet_dependencies(["venue-sim", "feed", "ghost"], ready) == ["ghost", "venue-sim"]
    assert unmet_dependencies(["feed"], ready) == []
    assert unmet_dependencies([], {}) == []


# -- 13: backoff ----------------------------------------------------------------------------------


def test_backoff_grows_exponentially_without_jitter() -> None:
    spec = BackoffSpec(initial_seconds=1, max_seconds=1000, factor=2, jitter=0)
    assert [backoff_delay(spec, n) for n in range(1, 7)] == [1, 2, 4, 8, 16, 32]


def test_backoff_cap_is_hard_bound_even_with_jitter() -> None:
    spec = BackoffSpec(initial_seconds=5, max_seconds=60, factor=3, jitter=0.5)
    rng = random.Random(7)
    delays = [backoff_delay(spec, n, rng) for n in range(1, 200)]
    assert all(0 < d <= 60 for d in delays)
    # far past the cap the delay stays in [cap*(1-jitter), cap]
    assert all(30 <= d <= 60 for d in delays[10:])
    assert backoff_delay(spec, 10_000, random.Random(1)) <= 60


def test_backoff_jitter_only_shortens() -> None:
    spec = BackoffSpec(initial_seconds=4, max_seconds=300, factor=2, jitter=0.25)
    rng = random.Random(3)
    for n in range(1, 8):
        nominal = min(300, 4 * 2 ** (n - 1))
        for _ in range(50):
            d = backoff_delay(spec, n, rng)
            assert nominal * 0.75 <= d <= nominal


def test_backoff_deterministic_with_seeded_rng() -> None:
    spec = BackoffSpec()
    a = [backoff_delay(spec, n, random.Random(42)) for n in range(1, 10)]
    b = [backoff_delay(spec, n, random.Random(42)) for n in range(1, 10)]
    assert a == b
    r1, r2 = random.Random(9), random.Random(9)
    assert [backoff_delay(spec, 3, r1) for _ in range(5)] == [backoff_delay(spec, 3, r2) for _ in range(5)]


@pytest.mark.parametrize("failures", [0, -1, -100])
def test_backoff_no_failures_means_no_delay(failures: int) -> None:
    assert backoff_delay(BackoffSpec(), failures, random.Random(0)) == 0.0


@st.composite
def backoff_specs(draw: st.DrawFn) -> BackoffSpec:
    initial = draw(st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False))
    cap = draw(st.floats(min_value=initial, max_value=1e6, allow_nan=False, allow_infinity=False))
    return BackoffSpec(
        initial_seconds=initial,
        max_seconds=cap,
        factor=draw(st.floats(min_value=1.0, max_value=10.0)),
        jitter=draw(st.floats(min_value=0.0, max_value=1.0)),
    )


@settings(max_examples=300, deadline=None)
@given(spec=backoff_specs(), failures=st.integers(min_value=-5, max_value=10_000), seed=st.integers(0, 2**32))
def test_backoff_property_bounded_and_jitter_floor(spec: BackoffSpec, failures: int, seed: int) -> None:
    delay = backoff_delay(spec, failures, random.Random(seed))
    assert 0.0 <= delay <= spec.max_seconds
    if failures <= 0:
        assert delay == 0.0
        return
    base = min(spec.max_seconds, spec.initial_seconds * math.pow(spec.factor, min(failures - 1, 64)))
    assert delay >= base * (1 - spec.jitter) - 1e-9 * base
    assert delay <= base


# -- 14: heartbeats -------------------------------------------------------------------------------


def test_heartbeat_stale() -> None:
    assert heartbeat_stale(None, T0, 20)
    assert not heartbeat_stale(at(-5), T0, 20)
    assert not heartbeat_stale(at(-20), T0, 20)  # exactly at the limit is still fresh
    assert heartbeat_stale(at(-20.5), T0, 20)


# -- 19: recycle ----------------------------------------------------------------------------------

RECYCLE = RecycleSpec(max_uptime_seconds=3600, hard_deadline_seconds=7200)


def test_recycle_within_max_uptime() -> None:
    d = recycle_decision(RECYCLE, at(-100), T0, open_orders=0)
    assert (d.recycle, d.reason) == (False, "WithinMaxUptime")


def test_recycle_deferred_by_open_orders() -> None:
    d = recycle_decision(RECYCLE, at(-4000), T0, open_orders=3)
    assert (d.recycle, d.reason) == (False, "RecycleDeferred")
    assert "3 open orders" in d.message


def test_recycle_forced_after_hard_deadline_even_with_open_orders() -> None:
    d = recycle_decision(RECYCLE, at(-7200), T0, open_orders=3)
    assert (d.recycle, d.reason) == (True, "MaxUptimeReached")
    assert "hard deadline" in d.message


def test_recycle_with_no_open_orders_at_max_uptime() -> None:
    d = recycle_decision(RECYCLE, at(-3600), T0, open_orders=0)
    assert (d.recycle, d.reason) == (True, "MaxUptimeReached")
    assert "no open orders" in d.message


def test_recycle_without_hard_deadline_defers_indefinitely() -> None:
    spec = RecycleSpec(max_uptime_seconds=3600)
    assert not recycle_decision(spec, at(-(10**6)), T0, open_orders=1).recycle
    assert recycle_decision(spec, at(-(10**6)), T0, open_orders=0).recycle


def test_recycle_no_policy() -> None:
    assert recycle_decision(None, at(-(10**6)), T0, 0).reason == "NoRecyclePolicy"
    assert recycle_decision(RECYCLE, None, T0, 0).reason == "NoRecyclePolicy"
    assert not recycle_decision(None, at(-(10**6)), T0, 0).recycle


# -- 15: gates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "gate", "source"),
    [
        ({}, Gate.GO, "default"),
        ({"Agent/a": Gate.GO, "RiskPolicy/global": None}, Gate.GO, "default"),
        ({"Agent/a": Gate.CHECK, "RiskPolicy/global": Gate.GO}, Gate.CHECK, "Agent/a"),
        ({"Agent/a": Gate.CHECK, "RiskPolicy/global": Gate.PAUSE}, Gate.PAUSE, "RiskPolicy/global"),
        ({"Agent/a": "STOP", "RiskPolicy/global": Gate.PAUSE}, Gate.STOP, "Agent/a"),
        ({"A": Gate.PAUSE, "B": Gate.PAUSE}, Gate.PAUSE, "A"),  # ties keep the first scope
        ({"A": None, "B": Gate.STOP, "C": Gate.CHECK}, Gate.STOP, "B"),
    ],
)
def test_effective_gate_most_restrictive(
    scopes: dict[str, Gate | str | None], gate: Gate, source: str
) -> None:
    view = effective_gate(scopes)
    assert (view.gate, view.source) == (gate, source)


def test_gate_severity_order() -> None:
    assert Gate.STOP.severity > Gate.PAUSE.severity > Gate.CHECK.severity > Gate.GO.severity


# -- 16: scaling ----------------------------------------------------------------------------------

SCALE = AutoscalingSpec(min_replicas=1, max_replicas=5, target_queue_per_worker=10, cooldown_seconds=60)


@pytest.mark.parametrize(
    ("queue", "want"), [(0, 1), (1, 1), (10, 1), (11, 2), (35, 4), (50, 5), (51, 5), (10_000, 5)]
)
def test_desired_replicas_ceil_clamped(queue: int, want: int) -> None:
    d = desired_replicas(SCALE, current=3, queue_length=queue, last_scale=None, now=T0)
    assert d.replicas == want
    assert d.changed == (want != 3)


def test_desired_replicas_min_zero_scales_to_zero() -> None:
    spec = AutoscalingSpec(min_replicas=0, max_replicas=3, target_queue_per_worker=5, cooldown_seconds=0)
    assert desired_replicas(spec, 2, 0, None, T0).replicas == 0


def test_desired_replicas_cooldown_blocks_change() -> None:
    d = desired_replicas(SCALE, current=1, queue_length=40, last_scale=at(-30), now=T0)
    assert (d.replicas, d.changed) == (1, False)
    assert "cool-down" in d.reason
    d = desired_replicas(SCALE, current=1, queue_length=40, last_scale=at(-60), now=T0)
    assert (d.replicas, d.changed) == (4, True)


def test_desired_replicas_no_change_when_equal() -> None:
    d = desired_replicas(SCALE, current=2, queue_length=20, last_scale=None, now=T0)
    assert (d.replicas, d.changed) == (2, False)
    d = desired_replicas(SCALE, current=2, queue_length=15, last_scale=at(-1), now=T0)
    assert (d.replicas, d.changed) == (2, False)
    assert "cool-down" not in d.reason


# -- 18: recovery ---------------------------------------------------------------------------------


def test_health_unhealthy_is_degraded() -> None:
    h = health_decision(
        healthy_now=False, was_degraded=False, healthy_since=at(-100), hold_seconds=30, gate=Gate.GO, now=T0
    )
    assert (h.ready, h.degraded, h.healthy_since, h.reason) == (False, True, None, "Unhealthy")


def test_health_degraded_returns_to_ready_only_after_hold() -> None:
    hold = 30.0
    first = health_decision(
        healthy_now=True, was_degraded=True, healthy_since=None, hold_seconds=hold, gate=Gate.GO, now=T0
    )
    assert (first.ready, first.degraded, first.reason) == (False, True, "RecoveryHold")
    assert first.healthy_since == T0
    mid = health_decision(
        healthy_now=True, was_degraded=True, healthy_since=T0, hold_seconds=hold, gate=Gate.GO, now=at(29)
    )
    assert (mid.ready, mid.reason) == (False, "RecoveryHold")
    done = health_decision(
        healthy_now=True, was_degraded=True, healthy_since=T0, hold_seconds=hold, gate=Gate.GO, now=at(30)
    )
    assert (done.ready, done.degraded, done.reason) == (True, False, "Healthy")
    assert done.healthy_since == T0


def test_health_hold_needs_continuous_health() -> None:
    # a blip resets healthy_since, so the hold starts over
    blip = health_decision(
        healthy_now=False, was_degraded=True, healthy_since=T0, hold_seconds=30, gate=Gate.GO, now=at(20)
    )
    assert blip.healthy_since is None
    again = health_decision(
        healthy_now=True,
        was_degraded=True,
        healthy_since=blip.healthy_since,
        hold_seconds=30,
        gate=Gate.GO,
        now=at(40),
    )
    assert (again.ready, again.reason, again.healthy_since) == (False, "RecoveryHold", at(40))


def test_health_never_recovers_under_stop() -> None:
    h = health_decision(
        healthy_now=True,
        was_degraded=True,
        healthy_since=at(-10_000),
        hold_seconds=30,
        gate=Gate.STOP,
        now=T0,
    )
    assert (h.ready, h.degraded, h.reason) == (False, True, "GateForbids")


def test_health_ready_agent_under_stop_stays_ready() -> None:
    h = health_decision(
        healthy_now=True, was_degraded=False, healthy_since=at(-5), hold_seconds=30, gate=Gate.STOP, now=T0
    )
    assert (h.ready, h.degraded, h.reason) == (True, False, "Healthy")


def test_health_fresh_start_needs_no_hold() -> None:
    h = health_decision(
        healthy_now=True, was_degraded=False, healthy_since=None, hold_seconds=30, gate=Gate.GO, now=T0
    )
    assert (h.ready, h.healthy_since) == (True, T0)
