"""run_full_pipeline over a MemoryStore and a real EventLog, with a profile evaluator (see
pipeline_support): status writes, events with fingerprints, evidence (25), dedup (26), retries (28),
reproducible flags (29), remediation (31), leaderboard (32), prune (33), loss demotion (63), pool (23)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from pipeline_support import FrameData, Profile, ProfileEvaluator, bars, spec

from quantops_api import Stage, StrategyStatus
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_api.v1alpha1.strategy import StageTransition
from quantops_trading.pipeline.cycle import Pipeline
from quantops_trading.pipeline.evidence import read_snapshot
from quantops_trading.pipeline.flags import RunFlags, load_flags
from quantops_trading.pipeline.paper import EventLogPaper
from quantops_trading.pipeline.retry import TransientFailure
from quantops_trading.pipeline.store import MemoryStore
from quantops_trading.storage.eventlog import EventLog

POLICY = {"global": RiskPolicySpec.model_validate({"concentrationCap": 1.0, "maxConsecutiveLosses": 50})}
FLAGS = RunFlags(pool_min=0, pool_max=0, fast_bars=500, retry_base_seconds=0.0)


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _pipeline(
    tmp: Path, store: MemoryStore, ev: ProfileEvaluator, flags: RunFlags = FLAGS, **kw: Any
) -> Pipeline:
    data = FrameData({"AAA/BBB": bars(3000, 1), "CCC/BBB": bars(3000, 2)})
    tmp.mkdir(parents=True, exist_ok=True)
    return Pipeline(store=store, evaluator=ev, data=data, state_dir=tmp, flags=flags,
                    events=EventLog(tmp / "pipeline.sqlite"), sleep=lambda s: None, **kw)  # fmt: skip


def _events(tmp: Path, kind: str) -> list[dict[str, Any]]:
    return [e.data() for e in EventLog(tmp / "pipeline.sqlite").entries() if e.kind == kind]


def _at_stage(store: MemoryStore, name: str, stage: Stage, hours_ago: float, now: float) -> None:
    at = dt.datetime.fromtimestamp(now - hours_ago * 3600, dt.UTC)
    store.statuses[name] = StrategyStatus(
        stage=stage,
        transitions=[StageTransition(from_stage=Stage.COLD, to_stage=stage, reason="test", at=at)],
    )


def test_cycle_promotes_rejects_writes_status_events_and_evidence(tmp_path: Path) -> None:
    store = MemoryStore({"good": spec("AAA/BBB", desiredStage="WARM"), "bad": spec("CCC/BBB")}, POLICY)
    ev = ProfileEvaluator({"good": Profile(), "bad": Profile(sharpe=0.1)})
    p = _pipeline(tmp_path, store, ev)
    snap = p.run_full_pipeline()
    good, bad = store.statuses["good"], store.statuses["bad"]
    assert good.stage is Stage.WARM and good.transitions[-1].to_stage is Stage.WARM
    assert bad.stage is Stage.COLD and "minSharpe" in bad.evidence["decision"]["reason"]
    assert (
        good.fingerprint == snap["inputs"]["good"]["fingerprint"] and good.last_pipeline_run == snap["runId"]
    )
    assert good.leaderboard_score == 2.0 and good.evidence["checks"]["governor"]["passed"] is True
    # every decision is an event with its reason and the fingerprints (30)
    dec = {e["strategy"]: e for e in _events(tmp_path, "PipelineDecision")}
    assert dec["good"]["action"] == "promote" and dec["good"]["fingerprint"] == good.fingerprint
    assert dec["good"]["code_fingerprint"] == snap["inputs"]["good"]["codeFingerprint"]
    assert dec["bad"]["action"] == "reject" and "minSharpe" in dec["bad"]["reason"]
    assert [e["strategy_id"] for e in _events(tmp_path, "risk_promotion_simulated")] == [
        "good"
    ]  # 64: only the candidate
    assert _events(tmp_path, "StageChanged")[0]["new"] == "WARM"
    # 25: evidence snapshot on disk, vouched for by the hash-chained log
    rec = _events(tmp_path, "PipelineRunRecorded")[0]
    path = Path(rec["path"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == rec["sha256"]
    saved = read_snapshot(path)
    assert saved["flags"] == FLAGS.export() and saved["data"]["AAA/BBB"]["fingerprint"]
    assert {d.get("strategy") for d in saved["decisions"]} - {None} == {"good", "bad"}
    assert saved["metrics"]["good"]["full"]["trades"] == 40.0 and "fast" in saved["metrics"]["good"]  # 24
    assert EventLog(tmp_path / "pipeline.sqlite").verify() > 0


def test_24_26_cold_start_goes_fast_then_full_and_the_second_cycle_reuses_runs(tmp_path: Path) -> None:
    store = MemoryStore({"good": spec(desiredStage="WARM"), "hopeless": spec("CCC/BBB")}, POLICY)
    ev = ProfileEvaluator({"good": Profile(), "hopeless": Profile(sharpe=-5.0)})
    p = _pipeline(tmp_path, store, ev)
    p.run_full_pipeline()
    assert ("good", 500) in ev.calls and ("good", 3000) in ev.calls
    assert ("hopeless", 500) in ev.calls and ("hopeless", 3000) not in ev.calls  # never earned a full run
    assert "fast path" in store.statuses["hopeless"].evidence["decision"]["reason"]
    n = len(ev.calls)
    snap = p.run_full_pipeline()
    assert len(ev.calls) == n and snap["dedup"]["hits"] >= 2 and snap["dedup"]["misses"] == 0
    # a fresh pipeline on the same state dir reuses the cached runs too (cache survives restarts)
    p2 = _pipeline(tmp_path, store, ev)
    p2.run_full_pipeline()
    assert len(ev.calls) == n


def test_28_transient_failures_are_retried_deterministic_ones_are_recorded(tmp_path: Path) -> None:
    store = MemoryStore({"flaky": spec(desiredStage="WARM"), "broken": spec("CCC/BBB")}, POLICY)
    ev = ProfileEvaluator({"flaky": Profile(fail=[TransientFailure("worker lost")]),
                           "broken": Profile(fail=[ValueError("params.fast: bad")] * 5)})  # fmt: skip
    snap = _pipeline(tmp_path, store, ev).run_full_pipeline()
    assert store.statuses["flaky"].stage is Stage.WARM
    flaky = next(v for k, v in snap["retries"].items() if k.startswith("flaky|"))
    assert [a["ok"] for a in flaky["attempts"]] == [False, True]
    broken = next(v for k, v in snap["retries"].items() if k.startswith("broken|"))
    assert broken["kind"] == "deterministic" and len(broken["attempts"]) == 1
    assert store.statuses["broken"].stage is Stage.COLD
    assert _events(tmp_path, "EvaluationFailed")[0]["failure"] == "deterministic"


def test_29_exported_flags_reproduce_a_run_exactly(tmp_path: Path) -> None:
    flags = RunFlags(seed=11, pool_min=2, pool_max=2, fast_bars=400, retry_base_seconds=0.0)
    mk = lambda: MemoryStore({"good": spec(desiredStage="WARM"), "bad": spec("CCC/BBB")}, POLICY)  # noqa: E731
    profiles = lambda: {"good": Profile(), "bad": Profile(sharpe=0.2)}  # noqa: E731
    a = _pipeline(tmp_path / "a", mk(), ProfileEvaluator(profiles()), flags).run_full_pipeline()
    again = load_flags(Path(_events(tmp_path / "a", "PipelineRunRecorded")[0]["path"]))
    later = Clock(time.time() + 86_400)  # reproduced a day later: wall time must not matter
    b = _pipeline(tmp_path / "b", mk(), ProfileEvaluator(profiles()), again, clock=later).run_full_pipeline()
    assert a["runId"] != b["runId"]

    def strip(s: dict[str, Any]) -> str:
        return json.dumps(
            {k: s[k] for k in ("flags", "inputs", "data", "metrics", "candidates")}, sort_keys=True
        )

    assert strip(a) == strip(b)
    assert [(d.get("strategy"), d["action"]) for d in a["decisions"]] == [
        (d.get("strategy"), d["action"]) for d in b["decisions"]
    ]
    assert len(a["candidates"]) == 2


def test_31_repeated_warm_rejections_retune_then_retire(tmp_path: Path) -> None:
    clock = Clock()
    store = MemoryStore({"w": spec()}, POLICY)
    _at_stage(store, "w", Stage.WARM, 48, clock.t)
    ev = ProfileEvaluator({"w": Profile(slope=-0.0005)})  # fine headline numbers, every split loses
    flags = FLAGS.model_copy(update={"remediate_after": 2, "max_retunes": 1})
    p = _pipeline(tmp_path, store, ev, flags, clock=clock)
    p.run_full_pipeline()
    assert (
        store.statuses["w"].rejection_count == 1
        and "validation" in store.statuses["w"].evidence["decision"]["reason"]
    )
    p.run_full_pipeline()
    st = store.statuses["w"]
    assert st.evidence["remediation"]["action"] == "retune" and st.rejection_count == 0
    retuned = _events(tmp_path, "StrategyRetuned")[0]
    assert retuned["params"] == st.evidence["remediation"]["params"] and retuned["params"] != {
        "fast": 12,
        "slow": 48,
    }
    p.run_full_pipeline()
    snap = p.run_full_pipeline()
    assert snap["inputs"]["w"]["params"] == retuned["params"]  # later cycles evaluate the re-tune
    st = store.statuses["w"]
    assert st.stage is Stage.COLD and st.evidence["remediation"]["action"] == "retire"
    assert "retired" in st.transitions[-1].reason
    assert _events(tmp_path, "StrategyRetired")[0]["fingerprint"] == st.fingerprint
    p.run_full_pipeline()
    assert p.last_snapshot is not None
    assert {"strategy": "w", "action": "skip"}.items() <= next(
        d for d in p.last_snapshot["decisions"] if d.get("strategy") == "w").items()  # fmt: skip
    # a pipeline with fresh local state (a restarted pod) learns the retirement from the status
    fresh = _pipeline(tmp_path / "restarted", store, ev, flags, clock=clock)
    snap = fresh.run_full_pipeline()
    assert next(d for d in snap["decisions"] if d.get("strategy") == "w")["action"] == "skip"


def test_32_33_dead_strategy_is_pruned_after_inactivity_and_leaves_the_leaderboard(tmp_path: Path) -> None:
    clock = Clock()
    store = MemoryStore(
        {"dead": spec(desiredStage="WARM"), "alive": spec("CCC/BBB", desiredStage="WARM")}, POLICY
    )
    ev = ProfileEvaluator({"dead": Profile(active_until=0.1), "alive": Profile()})
    flags = FLAGS.model_copy(update={"prune_after_hours": 24.0})
    p = _pipeline(tmp_path, store, ev, flags, clock=clock)
    p.run_full_pipeline()
    assert store.statuses["dead"].stage is Stage.WARM  # good numbers, just nothing lately
    assert {n for n, _ in p.leaderboard.ranking()} == {"dead", "alive"}
    clock.t += 25 * 3600
    p.run_full_pipeline()
    dead, alive = store.statuses["dead"], store.statuses["alive"]
    assert (
        dead.stage is Stage.COLD
        and dead.leaderboard_score is None
        and "pruned" in dead.transitions[-1].reason
    )
    assert alive.stage is Stage.WARM and alive.leaderboard_score is not None
    assert [n for n, _ in p.leaderboard.ranking()] == ["alive"]
    assert _events(tmp_path, "StrategyPruned")[0]["strategy"] == "dead"


def _pnl_log(path: Path, pnls: list[float], t0: float) -> None:
    with EventLog(path) as log:
        for i, pnl in enumerate(pnls):
            log.append({"kind": "PnlSnapshot", "ts_ns": int((t0 + i * 600) * 1e9), "strategy": "s",
                        "pnl": pnl, "equity": 10_000 + pnl})  # fmt: skip


def test_35_the_warm_stage_paper_fills_count_as_its_paper_trades(tmp_path: Path) -> None:
    """The trader's paper desk writes ``paper_fill`` at WARM: the envelope check must see them."""
    with EventLog(tmp_path / "s.sqlite") as log:
        log.append({"kind": "PnlSnapshot", "ts_ns": 1, "strategy": "s", "pnl": 0.0, "equity": 10_000.0})
        for i in range(2):
            log.append({"kind": "paper_fill", "ts_ns": 2 + i, "strategy_id": "s", "price": "1"})
        log.append({"kind": "risk_would_be_order", "ts_ns": 5, "strategy_id": "s"})
        log.append({"kind": "PnlSnapshot", "ts_ns": 3_600_000_000_001, "strategy": "s", "pnl": 100.0,
                    "equity": 10_100.0, "paper": True})  # fmt: skip
    r = EventLogPaper(tmp_path, 10_000.0).paper("s", 0)
    assert r is not None and r.trades == 2 and r.hours == 1.0
    assert r.total_return == pytest.approx(0.01) and r.realised_pnl == 100.0


def test_63_realised_loss_demotes_hot_to_warm_to_cold_with_audit(tmp_path: Path) -> None:
    clock = Clock()
    store = MemoryStore({"s": spec()}, POLICY)
    _at_stage(store, "s", Stage.HOT, 5, clock.t)
    logs = tmp_path / "eventlogs"
    logs.mkdir()
    _pnl_log(logs / "s.sqlite", [0.0, -200.0, -650.0], clock.t - 4 * 3600)
    p = _pipeline(tmp_path, store, ProfileEvaluator({"s": Profile()}), clock=clock,
                  paper=EventLogPaper(logs, 10_000.0))  # fmt: skip
    p.run_full_pipeline()
    st = store.statuses["s"]
    assert (st.transitions[-1].from_stage, st.stage) == (Stage.HOT, Stage.WARM)
    dem = _events(tmp_path, "risk_stage_demoted")
    assert dem and dem[0]["old"] == "HOT" and dem[0]["new"] == "WARM" and dem[0]["realised_loss"] == 650.0
    clock.t += 3600
    _pnl_log(logs / "s2.sqlite", [], 0)  # unrelated log does not matter
    (logs / "s.sqlite").unlink()
    (logs / "s.sqlite.head").unlink()  # a new log, not a lost one: its head record goes too
    _pnl_log(logs / "s.sqlite", [0.0, -1200.0], clock.t - 1800)
    p.run_full_pipeline()
    assert store.statuses["s"].stage is Stage.COLD
    assert [e["new"] for e in _events(tmp_path, "risk_stage_demoted")] == ["WARM", "COLD"]


def test_23_pool_budget_follows_candidate_acceptance_and_the_queue_is_reported(tmp_path: Path) -> None:
    store = MemoryStore({"good": spec(desiredStage="WARM")}, POLICY)
    seen_queue: list[int] = []
    ev = ProfileEvaluator({"good": Profile()})
    p = _pipeline(
        tmp_path, store, ev, FLAGS.model_copy(update={"pool_min": 1, "pool_max": 5, "pool_window": 4})
    )
    inner = ev.evaluate

    def spy(*a: Any) -> Any:
        seen_queue.append(len(p.queue))
        return inner(*a)

    ev.evaluate = spy  # type: ignore[method-assign]
    s1 = p.run_full_pipeline()
    assert s1["pool"]["budget"] == 3 and len(s1["candidates"]) == 3
    assert all(c["accepted"] for c in s1["candidates"])  # same good profile → every variant accepted
    assert max(seen_queue) >= 3  # items waiting while the first one is evaluated
    s2 = p.run_full_pipeline()
    assert s2["pool"]["budget"] == 5  # acceptance 100 % → maximum generation
    budget = list(_events(tmp_path, "PoolBudgetChanged"))
    assert [(e["old"], e["new"]) for e in budget] == [(None, 3), (3, 5)]
    assert len(p.queue) == 0


def test_34_35_warm_to_hot_in_a_cycle_needs_splits_and_paper_inside_the_envelope(tmp_path: Path) -> None:
    import math

    clock = Clock()
    store = MemoryStore({"in": spec(), "out": spec("CCC/BBB")}, POLICY)
    for n in ("in", "out"):
        _at_stage(store, n, Stage.WARM, 30, clock.t)
    logs = tmp_path / "eventlogs"
    logs.mkdir()
    t0 = clock.t - 9 * 3600
    # 8 h of paper = 96 five-minute bars; the profile's backtest makes ≈ exp(0.0005·96) - 1 per 96 bars
    for name, growth in (("in", math.exp(0.0005 * 96)), ("out", 1.30)):
        with EventLog(logs / f"{name}.sqlite") as log:
            for i, eq in enumerate([10_000.0, 10_000.0 * growth]):
                log.append({"kind": "PnlSnapshot", "ts_ns": int((t0 + i * 8 * 3600) * 1e9), "strategy": name,
                            "pnl": eq - 10_000, "equity": eq})  # fmt: skip
    ev = ProfileEvaluator({"in": Profile(), "out": Profile()})
    p = _pipeline(tmp_path, store, ev, clock=clock, paper=EventLogPaper(logs, 10_000.0))
    p.run_full_pipeline()
    good, bad = store.statuses["in"], store.statuses["out"]
    assert good.stage is Stage.HOT, good.evidence["decision"]
    checks = good.evidence["checks"]
    assert (
        checks["validation"]["passed"] and len(checks["validation"]["splits"]) == 4
    )  # crossSplits default 4
    assert checks["envelope"]["passed"] and checks["envelope"]["envelope"]["window_bars"] == 96
    assert bad.stage is Stage.WARM and bad.rejection_count == 1
    assert "outside backtest envelope" in bad.evidence["decision"]["reason"]


def test_missing_data_is_skipped_and_unloadable_code_loses_its_stage(tmp_path: Path) -> None:
    from quantops_trading.pipeline.data import CandleFiles

    clock = Clock()
    store = MemoryStore(
        {"ok": spec("NEO/BTC", desiredStage="WARM"), "nodata": spec("ZZZ/BTC"),
         "broken": spec("NEO/BTC", entrypoint="no.such.module:Gone")},
        POLICY,
    )  # fmt: skip
    _at_stage(store, "broken", Stage.WARM, 10, clock.t)
    files = {
        "NEO/BTC": "candles/bittrex_NEO-BTC_5m_2017-09-05_2017-09-25.csv.gz",
        "ZZZ/BTC": "candles/nope.csv.gz",
    }
    ev = ProfileEvaluator({"ok": Profile(), "nodata": Profile(), "broken": Profile()})
    events = EventLog(tmp_path / "pipeline.sqlite")
    p = Pipeline(store=store, evaluator=ev, data=CandleFiles(files), state_dir=tmp_path, flags=FLAGS,
                 events=events, clock=clock, sleep=lambda s: None)  # fmt: skip
    snap = p.run_full_pipeline()
    assert store.statuses["ok"].stage is Stage.WARM  # the others' problems do not stop the cycle
    skip = next(d for d in snap["decisions"] if d.get("strategy") == "nodata")
    assert (
        skip["action"] == "skip"
        and "nope.csv.gz" in skip["reason"]
        and store.statuses["nodata"].stage is None
    )
    assert _events(tmp_path, "DataUnavailable")[0]["pair"] == "ZZZ/BTC"
    broken = store.statuses["broken"]
    assert broken.stage is Stage.COLD and "unusable" in broken.transitions[-1].reason
    assert "no.such.module" in broken.transitions[-1].reason


def test_pipeline_role_config_errors_name_the_field(tmp_path: Path) -> None:
    import pytest

    from quantops_trading.runtime.pipeline_role import PipelineWork

    with pytest.raises(SystemExit, match=r"spec\.config\.flags\.feeRate"):
        PipelineWork({"flags": {"feeRate": 3}}, tmp_path)
    with pytest.raises(SystemExit, match=r"spec\.config\.intervalMinutes"):
        PipelineWork({"intervalMinutes": -1}, tmp_path)
    with pytest.raises(SystemExit, match=r"spec\.config\.jitterSeconds"):
        PipelineWork({"intervalSeconds": 10, "jitterSeconds": 30}, tmp_path)
    with pytest.raises(SystemExit, match=r"spec\.config\.data"):
        PipelineWork({"data": ["NEO/BTC"]}, tmp_path)
    w = PipelineWork({"intervalSeconds": 5, "data": {"NEO/BTC": "x.csv"}}, tmp_path)
    assert w.queue_length() == 0 and w.describe()["cycles"] == 0 and w.interval == 5.0
