"""Pure pieces of the pipeline: 23 pool, 24 sampling, 26 dedup, 28 retries, 29 flags, 30 fingerprints,
32 leaderboard, 33 prune, 34 splits, 35 envelope, 27 alerts."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_support import MOMENTUM, bars

from quantops_api import Stage
from quantops_api.v1alpha1.strategy import PromotionPolicy
from quantops_trading.observability.alerts import AlertRouter, FileChannel, Route
from quantops_trading.pipeline.alerting import evidence_alerts
from quantops_trading.pipeline.dedup import RunCache
from quantops_trading.pipeline.envelope import PaperResult, backtest_envelope, check_envelope
from quantops_trading.pipeline.evaluator import Evaluation
from quantops_trading.pipeline.fingerprint import code_fingerprint, data_fingerprint, spec_fingerprint
from quantops_trading.pipeline.flags import RunFlags, load_flags
from quantops_trading.pipeline.leaderboard import Leaderboard
from quantops_trading.pipeline.pool import PoolScaler, param_bounds, params_model, propose_variants
from quantops_trading.pipeline.prune import prune_decision
from quantops_trading.pipeline.retry import (
    DeterministicFailure,
    TransientFailure,
    backoff_seconds,
    classify,
    run_with_retry,
)
from quantops_trading.pipeline.sampling import fast_window, survives_fast
from quantops_trading.pipeline.validation import cross_validate, purged_kfold, walk_forward


def _ev(**kw: float) -> Evaluation:
    d = {"trades": 20, "total_return": 0.1, "max_drawdown": 0.1, "sharpe": 1.0}
    d.update(kw)
    return Evaluation("s", "d", 100, int(d["trades"]), d["total_return"], d["max_drawdown"], d["sharpe"], 1.0)


# -- 23 pool autoscaling ---------------------------------------------------------------------------
@given(st.lists(st.booleans(), min_size=1, max_size=40), st.lists(st.booleans(), min_size=1, max_size=40))
def test_23_budget_grows_with_acceptance_and_stays_in_bounds(a: list[bool], b: list[bool]) -> None:
    pa, pb = PoolScaler(20, 1, 8), PoolScaler(20, 1, 8)
    for x in a:
        pa.record(x)
    for x in b:
        pb.record(x)
    ra, rb = pa.acceptance(), pb.acceptance()
    assert ra is not None and rb is not None
    assert 1 <= pa.budget() <= 8 and 1 <= pb.budget() <= 8
    if ra > rb:
        assert pa.budget() >= pb.budget()


def test_23_all_accepted_means_max_none_means_min_and_window_forgets() -> None:
    p = PoolScaler(5, 0, 6)
    assert p.budget() == 3  # no history: midpoint
    for _ in range(5):
        p.record(True)
    assert p.budget() == 6
    for _ in range(5):
        p.record(False)  # the window of 5 forgets the acceptances
    assert p.acceptance() == 0.0 and p.budget() == 0
    with pytest.raises(ValueError, match="pool_min"):
        PoolScaler(5, 4, 2)


def test_23_variants_are_valid_distinct_and_inside_the_params_bounds() -> None:
    model = params_model(MOMENTUM)
    bounds = param_bounds(model)
    assert bounds["fast"][:2] == (1.0, 10_000.0) and bounds["threshold"] == (0.0, 0.5, False)
    parent = {"fast": 12, "slow": 48, "threshold": 0.0005}
    out = propose_variants(MOMENTUM, parent, 5, random.Random(1))
    assert len(out) == 5
    fps = {spec_fingerprint(MOMENTUM, v) for v in out}
    assert (
        len(fps) == 5
        and spec_fingerprint(MOMENTUM, model.model_validate(parent).model_dump(by_alias=True)) not in fps
    )
    for v in out:
        model.model_validate(v)  # valid for the strategy (fast < slow enforced by its own model)
        assert v["fast"] < v["slow"] and 0 <= v["threshold"] <= 0.5
    with pytest.raises(ValueError, match="entrypoint"):
        params_model("no.such.module:Nope")


# -- 24 sampling -----------------------------------------------------------------------------------
def test_24_fast_path_is_the_recent_short_window_and_filters_hopeless_runs() -> None:
    b = bars(3000)
    f = RunFlags(fast_bars=500)
    w = fast_window(b, f)
    assert w.height == 500 and w["ts_ms"][0] == b["ts_ms"][2500]
    assert survives_fast(_ev(sharpe=0.1), f)[0]
    ok, why = survives_fast(_ev(sharpe=-3.0), f)
    assert not ok and "sharpe" in why
    ok, why = survives_fast(_ev(max_drawdown=0.9), f)
    assert not ok and "drawdown" in why
    assert not survives_fast(_ev(sharpe=math.nan), f)[0]


# -- 26 dedup --------------------------------------------------------------------------------------
def test_26_cache_reuses_identical_runs_and_misses_on_any_changed_fingerprint(tmp_path: Path) -> None:
    c = RunCache(tmp_path)
    k = c.key("s", "d", "f", "full")
    assert c.get(k) is None and c.misses == 1
    ev = _ev()
    c.put(k, ev)
    assert c.get(k) == ev and c.hits == 1
    assert len({k, c.key("s2", "d", "f", "full"), c.key("s", "d2", "f", "full"),
                c.key("s", "d", "f2", "full"),
                c.key("s", "d", "f", "fast")}) == 5  # fmt: skip
    (tmp_path / f"{k}.json").write_text("{torn")
    assert c.get(k) is None  # a corrupt entry is a miss, not a crash
    assert RunCache(tmp_path).get(c.key("s", "d", "f", "fast")) is None


# -- 28 retries ------------------------------------------------------------------------------------
def test_28_transient_failures_are_retried_with_backoff_then_succeed() -> None:
    calls, sleeps = [], []

    def fn() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise TransientFailure("worker lost")
        return 7

    out = run_with_retry(fn, attempts=4, base=1.0, cap=3.0, rng=random.Random(0), sleep=sleeps.append)
    assert out.ok and out.value == 7 and len(calls) == 3 and len(sleeps) == 2
    assert all(0 <= s <= 3.0 for s in sleeps)
    assert [a["ok"] for a in out.attempts] == [False, False, True]


def test_28_deterministic_failures_are_not_retried_and_retries_are_bounded() -> None:
    calls: list[int] = []

    def bad() -> int:
        calls.append(1)
        raise ValueError("params.fast: must be < slow")

    out = run_with_retry(bad, attempts=5, base=0.0, cap=0.0, rng=random.Random(0), sleep=lambda s: None)
    assert (
        not out.ok and out.kind == "deterministic" and len(calls) == 1 and "params.fast" in (out.error or "")
    )

    def flaky() -> int:
        calls.append(1)
        raise TimeoutError("slow disk")

    calls.clear()
    out = run_with_retry(flaky, attempts=3, base=0.0, cap=0.0, rng=random.Random(0), sleep=lambda s: None)
    assert not out.ok and out.kind == "transient" and len(calls) == 3
    assert (
        classify(ConnectionResetError()) == "transient" and classify(FileNotFoundError()) == "deterministic"
    )
    assert classify(DeterministicFailure("x")) == "deterministic"


@given(st.integers(1, 30), st.floats(0, 10), st.floats(0, 60))
def test_28_backoff_is_capped_and_non_negative(attempt: int, base: float, cap: float) -> None:
    d = backoff_seconds(attempt, base, cap, random.Random(attempt))
    assert 0 <= d <= min(cap, base * 2 ** (attempt - 1)) + 1e-9


# -- 29 flags --------------------------------------------------------------------------------------
@settings(max_examples=30)
@given(st.integers(0, 10**6), st.integers(50, 5000), st.floats(0, 0.05))
def test_29_flags_round_trip_exactly_through_export(seed: int, fast: int, fee: float) -> None:
    f = RunFlags(seed=seed, fast_bars=fast, fee_rate=fee)
    back = load_flags(json.loads(json.dumps(f.export())))
    assert back == f and back.fingerprint() == f.fingerprint()
    assert RunFlags(seed=seed + 1).fingerprint() != RunFlags(seed=seed).fingerprint()


def test_29_flags_load_from_a_snapshot_and_name_the_bad_field(tmp_path: Path) -> None:
    f = RunFlags(seed=5, pool_max=2)
    p = tmp_path / "snap.json"
    p.write_text(json.dumps({"runId": "r1", "flags": f.export()}))
    assert load_flags(p) == f
    with pytest.raises(ValueError, match=r"flags\.feeRate"):
        load_flags({"feeRate": 2})
    with pytest.raises(ValueError, match=r"flags\.nope"):
        load_flags({"nope": 1})


# -- 30 fingerprints -------------------------------------------------------------------------------
def test_30_fingerprints_change_with_params_code_identity_and_data() -> None:
    a = spec_fingerprint(MOMENTUM, {"fast": 12, "slow": 48})
    assert a == spec_fingerprint(MOMENTUM, {"slow": 48, "fast": 12}) and len(a) == 16
    assert a != spec_fingerprint(MOMENTUM, {"fast": 13, "slow": 48})
    c = code_fingerprint(MOMENTUM, {"fast": 12, "slow": 48})
    assert c != code_fingerprint(
        "quantops_trading.strategies.mean_reversion:MeanReversion", {"fast": 12, "slow": 48}
    )
    b = bars(100)
    assert data_fingerprint(b) == data_fingerprint(b.clone())
    assert data_fingerprint(b) != data_fingerprint(b.with_columns(b["close"] * 1.0000001))


# -- 32 leaderboard --------------------------------------------------------------------------------
def test_32_old_scores_decay_by_half_life_and_new_evidence_dominates(tmp_path: Path) -> None:
    lb = Leaderboard(half_life_seconds=3600.0)
    lb.update("a", 4.0, 0.0)
    lb.update("a", 0.0, 3600.0)  # the old 4.0 now weighs 0.5 against 1.0
    assert lb.score("a") == pytest.approx(4.0 * 0.5 / 1.5)
    lb.update("b", 1.0, 0.0)
    lb.update("b", 1.0, 36_000.0)
    assert lb.score("b") == pytest.approx(1.0)
    assert lb.weight("b", 36_000.0 + 3600.0) == pytest.approx((1 + 2**-10) * 0.5)
    assert [n for n, _ in lb.ranking()] == ["a", "b"]  # 1.33 > 1.0
    lb.update("c", math.inf, 0.0)
    assert lb.score("c") == -10.0  # non-finite counts as the floor
    lb.save(tmp_path / "lb.json")
    back = Leaderboard.load(tmp_path / "lb.json", 3600.0)
    assert back.ranking() == lb.ranking()


@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(0, 1e6)), min_size=1, max_size=20))
def test_32_score_is_a_weighted_mean_inside_the_observed_range(obs: list[tuple[float, float]]) -> None:
    lb = Leaderboard(3600.0)
    t = 0.0
    for v, dt in obs:
        t += dt
        lb.update("s", v, t)
    vals = [v for v, _ in obs]
    assert min(vals) - 1e-9 <= lb.score("s") <= max(vals) + 1e-9


# -- 33 prune --------------------------------------------------------------------------------------
def test_33_prune_after_inactivity_only() -> None:
    h = 3600.0
    assert not prune_decision(10 * h, 0.0, 20 * h, 24).prune
    d = prune_decision(10 * h, 0.0, 40 * h, 24)
    assert d.prune and d.idle_hours == pytest.approx(30) and "no trades" in d.reason
    d = prune_decision(None, 5 * h, 40 * h, 24)
    assert d.prune and "since first seen" in d.reason


# -- 34 cross-split validation ---------------------------------------------------------------------
@given(st.integers(40, 5000), st.integers(2, 12), st.integers(0, 5))
def test_34_walk_forward_tests_strictly_after_train_and_covers_the_tail(n: int, k: int, emb: int) -> None:
    if n < (k + 1) * 2:
        return
    splits = walk_forward(n, k, emb)
    assert len(splits) == k and splits[-1].test[1] == n
    for s in splits:
        assert (s.train[0] == 0 and s.train[1] <= s.test[0] - emb) or s.train[1] == 0
        assert s.test[0] < s.test[1]
    assert all(a.test[1] == b.test[0] for a, b in itertools.pairwise(splits))


@given(st.integers(20, 5000), st.integers(2, 10), st.integers(0, 5))
def test_34_purged_kfold_purges_an_embargo_around_every_test_fold(n: int, k: int, emb: int) -> None:
    if n < 2 * k:
        return
    splits = purged_kfold(n, k, emb)
    covered = sorted(i for s in splits for i in range(*s.test))
    assert covered == list(range(n))
    for s in splits:
        a, b = s.test
        for lo, hi in zip(s.train[::2], s.train[1::2], strict=True):
            assert hi <= a - emb or lo >= b + emb  # no train bar within the embargo of the test fold


def test_34_cross_validate_needs_most_splits_to_hold_up() -> None:
    b = bars(2000)

    def run_from(slope_of: dict[int, float]):
        def run(seg):
            start = int(seg["ts_ms"][-1])
            slope = slope_of.get(start, 0.0005)
            eq = 10_000 * np.exp(slope * np.arange(seg.height) + 1e-4 * np.sin(np.arange(seg.height)))
            return Evaluation("s", "d", seg.height, 10, 0.0, 0.0, 0.0, 0.0, tuple(eq), (), 300_000)

        return run

    good = cross_validate(run_from({}), b, k=4, method="walk_forward", embargo=5, warmup=50,
                          max_drawdown=0.2, min_pass_fraction=0.75)  # fmt: skip
    assert good.passed and len(good.splits) == 4
    ends = [int(b["ts_ms"][s.test[1] - 1]) for s in walk_forward(2000, 4, 5)]
    bad = cross_validate(run_from({ends[0]: -0.001, ends[1]: -0.001}), b, k=4, method="walk_forward",
                         embargo=5, warmup=50, max_drawdown=0.2, min_pass_fraction=0.75)  # fmt: skip
    assert not bad.passed and "2/4 splits passed" in bad.reason
    short = cross_validate(run_from({}), b.head(5), k=4, method="purged_kfold", embargo=0, warmup=0,
                           max_drawdown=0.2, min_pass_fraction=0.75)  # fmt: skip
    assert not short.passed and "cross_splits" in short.reason


# -- 35 envelope -----------------------------------------------------------------------------------
def test_35_paper_results_must_stay_inside_the_backtest_envelope() -> None:
    rng = np.random.default_rng(1)
    eq = 10_000 * np.exp(np.cumsum(rng.normal(0.0002, 0.003, 3000)))
    env = backtest_envelope(eq, 100, 0.05, 1.25)
    assert env is not None and env.return_lo < env.return_hi and env.max_drawdown > 0
    mid = (env.return_lo + env.return_hi) / 2
    ok = check_envelope(env, PaperResult(8.0, 12, mid, env.max_drawdown / 2, 10.0, 10_000))
    assert ok.passed
    hi = check_envelope(env, PaperResult(8.0, 12, env.return_hi + 0.05, 0.0, 10.0, 10_000))
    assert not hi.passed and "outside backtest envelope" in hi.reason
    dd = check_envelope(env, PaperResult(8.0, 12, mid, env.max_drawdown * 2, 10.0, 10_000))
    assert not dd.passed and "drawdown" in dd.reason
    assert not check_envelope(env, None).passed
    assert backtest_envelope(eq[:50], 100, 0.05, 1.25) is None


# -- 27 alerts -------------------------------------------------------------------------------------
def test_27_unmet_evidence_thresholds_raise_routed_alerts(tmp_path: Path) -> None:
    pol = PromotionPolicy(min_trades=30, min_warm_hours=24)
    few = _ev(trades=12)
    a = evidence_alerts("s", Stage.COLD, pol, few, None, None, 1.0)
    assert [x.title for x in a] == ["minimum evidence not met"] and "12 < minTrades 30" in a[0].detail
    assert evidence_alerts("s", Stage.COLD, pol, _ev(trades=40), None, None, 1.0) == []
    paper = PaperResult(30.0, 5, 0.0, 0.0, 0.0, 10_000)
    w = evidence_alerts("s", Stage.WARM, pol, _ev(trades=40), paper, 30.0, 1.0)
    assert [x.title for x in w] == ["warm evidence not met"] and "5 paper fills" in w[0].detail
    assert evidence_alerts("s", Stage.WARM, pol, _ev(trades=40), paper, 10.0, 1.0) == []  # still young
    router = AlertRouter([Route(channels=["file"])], {"file": FileChannel("file", tmp_path / "alerts.jsonl")})
    assert asyncio.run(router.dispatch(w[0])) == ["file"]
    rec = json.loads((tmp_path / "alerts.jsonl").read_text())
    assert rec["scope"] == "Strategy/s" and rec["state"] == "NO_GO"


def test_30_64_governor_replay_orders_carry_the_fingerprint_and_the_realised_edge() -> None:
    from quantops_trading.pipeline.evaluator import OrderRecord

    orders = (
        OrderRecord(1.0, "A/B@backtest", "buy", 2.0, 100.0),
        OrderRecord(2.0, "A/B@backtest", "sell", 2.0, 102.0),
        OrderRecord(3.0, "A/B@backtest", "buy", 1.0, 100.0),
        OrderRecord(4.0, "A/B@backtest", "sell", 1.0, 101.0),
    )
    ev = Evaluation("0123456789abcdef", "d", 10, 2, 0.0, 0.0, 0.0, 0.0, (), orders)
    assert ev.round_trip_edge_bps() == pytest.approx(150.0)  # (200 + 100) / 2 bps
    sims = ev.sim_orders("s", slippage_bps=3.0)
    assert [o.request.intent.intent_id for o in sims] == [f"0123456789ab-{n}" for n in range(4)]
    assert [o.request.intent.reduce_only for o in sims] == [False, True, False, True]
    assert all(o.request.expected_edge_bps == pytest.approx(150.0) for o in sims)
    assert all(o.request.expected_slippage_bps == 3.0 for o in sims)
    assert Evaluation.from_json(ev.to_json()) == ev  # what the dedup cache stores
