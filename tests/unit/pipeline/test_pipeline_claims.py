"""Work-item claims: replicas share the strategy queue (the reason queue-based scaling helps)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from pipeline_support import FrameData, Profile, ProfileEvaluator, bars, spec

from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.pipeline.claims import ClaimView, may_claim
from quantops_trading.pipeline.cycle import Pipeline
from quantops_trading.pipeline.flags import RunFlags
from quantops_trading.pipeline.store import MemoryStore
from quantops_trading.storage.eventlog import EventLog


@given(
    holder=st.sampled_from([None, "me", "other"]),
    last=st.sampled_from([None, "me", "other"]),
    age=st.floats(0, 1000),
    duration=st.floats(1, 500),
    fresh=st.floats(0, 500),
)
def test_claim_rule(holder: str | None, last: str | None, age: float, duration: float, fresh: float) -> None:
    ok, why = may_claim(ClaimView(holder, 1000.0, duration, last), "me", 1000.0 + age, fresh)
    age = (1000.0 + age) - 1000.0  # the age the rule sees (float rounding)
    if holder == "me":
        assert ok  # a replica is never blocked by itself
    elif holder == "other":
        assert ok == (age >= duration), why  # busy elsewhere until the claim expires
    else:
        assert ok == (last != "other" or age >= fresh), why  # done elsewhere this round
    assert may_claim(None, "me", 0.0, fresh)[0]


def test_two_replicas_split_the_queue_and_skip_what_the_other_holds(tmp_path: Path) -> None:
    store = MemoryStore(
        {"a": spec("AAA/BBB", desiredStage="WARM"), "b": spec("CCC/BBB", desiredStage="WARM")},
        {"global": RiskPolicySpec.model_validate({"concentrationCap": 1.0, "maxConsecutiveLosses": 50})},
    )
    data = FrameData({"AAA/BBB": bars(2000, 1), "CCC/BBB": bars(2000, 2)})
    flags = RunFlags(pool_min=0, pool_max=0, fast_bars=400)
    clock = {"t": 1_800_000_000.0}

    def replica(name: str) -> tuple[Pipeline, ProfileEvaluator]:
        ev = ProfileEvaluator({"a": Profile(), "b": Profile()})
        (tmp_path / name).mkdir()
        p = Pipeline(store=store, evaluator=ev, data=data, state_dir=tmp_path / name, flags=flags,
                     events=EventLog(tmp_path / name / "log.sqlite"), clock=lambda: clock["t"],
                     holder=name, claim_ttl=60.0, claim_fresh=30.0)  # fmt: skip
        return p, ev

    r1, ev1 = replica("r1")
    r2, ev2 = replica("r2")
    assert store.claim("a", "r1", 60.0, 30.0, clock["t"])[0]  # r1 is evaluating "a" right now
    s2 = r2.run_full_pipeline()
    assert {c[0] for c in ev2.calls} == {"b"}
    skip = next(d for d in s2["decisions"] if d.get("strategy") == "a")
    assert skip["action"] == "skip" and "being evaluated by r1" in skip["reason"]
    store.release("a", "r1", clock["t"])
    clock["t"] += 5
    s1 = r1.run_full_pipeline()  # r1: "a" is its own; "b" was just done by r2 → skipped
    assert {c[0] for c in ev1.calls} == {"a"}
    assert "evaluated by r2" in next(d for d in s1["decisions"] if d.get("strategy") == "b")["reason"]
    clock["t"] += 31  # the round is over: anyone may take anything again
    r2.run_full_pipeline()
    assert {c[0] for c in ev2.calls} == {"a", "b"}
    clock["t"] += 31
    # a crashed holder's claim expires after its ttl
    assert store.claim("b", "r1", 60.0, 30.0, clock["t"])[0]
    assert not store.claim("b", "r2", 60.0, 30.0, clock["t"] + 59)[0]
    assert store.claim("b", "r2", 60.0, 30.0, clock["t"] + 61)[0]
