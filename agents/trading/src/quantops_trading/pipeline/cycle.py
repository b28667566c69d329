"""``run_full_pipeline``: one cycle over every Strategy — evaluate, validate, rank, decide, record.

Why it exists: this is the pipeline agent's job (ARCHITECTURE "Processes": pipeline). One cycle:

1. read every Strategy (spec + status) and the RiskPolicies from the store; queue one work item
   per strategy plus the candidates the pool scaler budgets (23) — the queue's length is what the
   agent reports in its heartbeat, so the operator scales the worker pool from it;
2. per strategy: skip it if retired/pruned at this fingerprint; cold fingerprints take the fast
   path first (24); the full path runs for survivors and known strategies; identical runs are
   reused (26); transient evaluator failures are retried with backoff (28);
3. decide: realised-loss demotion (63) and lowered ``desiredStage`` first; COLD → WARM after the
   risk-governor replay (64); WARM → HOT after cross-split validation (34) and the envelope check
   (35); WARM rejections count toward re-tune/retire (31); inactivity prunes (33); evidence
   shortfalls alert (27); scores enter the decayed leaderboard (32);
4. write each strategy's status (stage, fingerprint, evidence, score, last run, rejection count,
   transitions) and an event per decision carrying the fingerprints (30); persist the evidence
   snapshot with the exported run flags (25, 29).

What it must not do: touch a venue, or change a Strategy's spec (re-tunes are recorded in status
evidence and applied to the pipeline's own later evaluations).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from quantops_api import Stage, StrategySpec, StrategyStatus
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_api.v1alpha1.strategy import StageTransition
from quantops_trading.observability.alerts import Alert, AlertRouter
from quantops_trading.pipeline.alerting import evidence_alerts
from quantops_trading.pipeline.data import CandleFiles
from quantops_trading.pipeline.dedup import RunCache
from quantops_trading.pipeline.envelope import EnvelopeCheck, PaperResult, backtest_envelope, check_envelope
from quantops_trading.pipeline.evaluator import Evaluation, Evaluator
from quantops_trading.pipeline.evidence import EvidenceSnapshot
from quantops_trading.pipeline.fingerprint import code_fingerprint, data_fingerprint, spec_fingerprint
from quantops_trading.pipeline.flags import RunFlags
from quantops_trading.pipeline.leaderboard import Leaderboard
from quantops_trading.pipeline.paper import PaperSource
from quantops_trading.pipeline.pool import PoolScaler, propose_variants
from quantops_trading.pipeline.promotion import (
    RETUNE_HOLD,
    StageDecision,
    decide_cold,
    decide_desired,
    decide_loss,
    decide_warm,
)
from quantops_trading.pipeline.prune import prune_decision
from quantops_trading.pipeline.queue import WorkItem, WorkQueue
from quantops_trading.pipeline.remediation import meets_policy, remediate
from quantops_trading.pipeline.retry import run_with_retry
from quantops_trading.pipeline.sampling import fast_window, survives_fast
from quantops_trading.pipeline.store import StatusWriteError, StrategyRecord, StrategyStore
from quantops_trading.pipeline.validation import ValidationReport, cross_validate
from quantops_trading.risk.lifecycle import DemotionThresholds, GovernorReport, demote, simulate_promotion
from quantops_trading.storage.eventlog import EventLog

__all__ = ["Pipeline"]


@dataclass
class _Memory:
    """What the pipeline remembers between cycles (JSON next to the evidence)."""

    seen: dict[str, float] = field(default_factory=dict)  # "codeFp|pair" → first full run
    first_seen: dict[str, float] = field(default_factory=dict)  # strategy → first cycle
    last_active: dict[str, float] = field(default_factory=dict)
    retunes: dict[str, dict[str, Any]] = field(default_factory=dict)  # strategy → {base, params, n}
    retired: dict[str, dict[str, Any]] = field(default_factory=dict)  # strategy → {fingerprint, reason}
    pool: list[bool] = field(default_factory=list)
    budget: int | None = None
    runs: int = 0

    @classmethod
    def load(cls, path: Path) -> _Memory:
        if not path.is_file():
            return cls()
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, sort_keys=True))
        os.replace(tmp, path)


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()


def _warm_since(status: StrategyStatus) -> float | None:
    for t in reversed(status.transitions):
        if t.to_stage is Stage.WARM:
            return t.at.timestamp()
    return None


class Pipeline:
    def __init__(
        self,
        *,
        store: StrategyStore,
        evaluator: Evaluator,
        data: CandleFiles,
        state_dir: Path,
        flags: RunFlags | None = None,
        events: EventLog | None = None,
        router: AlertRouter | None = None,
        paper: PaperSource | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        holder: str = "pipeline",
        claim_ttl: float = 600.0,
        claim_fresh: float = 0.0,
    ) -> None:
        self.store, self.evaluator, self.data = store, evaluator, data
        self.flags = flags or RunFlags()
        self.root = state_dir / "pipeline"
        self.root.mkdir(parents=True, exist_ok=True)
        self.events = events
        self.router, self.paper, self.clock, self.sleep = router, paper, clock, sleep
        self.holder, self.claim_ttl, self.claim_fresh = holder, claim_ttl, claim_fresh
        self.cache = RunCache(self.root / "runs")
        self.evidence_dir = self.root / "evidence"
        self.memory = _Memory.load(self.root / "memory.json")
        self.leaderboard = Leaderboard.load(
            self.root / "leaderboard.json", self.flags.leaderboard_half_life_hours * 3600
        )
        self.scaler = PoolScaler(self.flags.pool_window, self.flags.pool_min, self.flags.pool_max)
        for o in self.memory.pool:
            self.scaler.record(o)
        self.queue = WorkQueue()
        self.last_snapshot: dict[str, Any] | None = None
        self.last_path: Path | None = None
        self._retry: dict[str, Any] = {}
        self._quarantine_reported: set[str] = set()  # pairs whose refused rows are in the event log

    # -- events -----------------------------------------------------------------------------------
    def _event(self, kind: str, at: float, **fields: Any) -> None:
        if self.events is not None:
            self.events.append({"kind": kind, "ts_ns": int(at * 1e9), **fields})

    # -- evaluation with dedup (26) and retries (28) ---------------------------------------------------
    def _evaluate(
        self, snap: EvidenceSnapshot, name: str, entrypoint: str, params: Mapping[str, Any],
        bars: pl.DataFrame, pair: str, path: str,
    ) -> Evaluation | None:  # fmt: skip
        key = self.cache.key(
            code_fingerprint(entrypoint, params), data_fingerprint(bars), self.flags.fingerprint(), path
        )
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        rng = random.Random(f"{self.flags.seed}|{key}")
        out = run_with_retry(
            lambda: self.evaluator.evaluate(name, entrypoint, params, bars, pair),
            attempts=self.flags.retry_attempts, base=self.flags.retry_base_seconds,
            cap=self.flags.retry_cap_seconds, rng=rng, sleep=self.sleep,
        )  # fmt: skip
        if len(out.attempts) > 1 or not out.ok:
            snap.retries[f"{name}|{path}|{key}"] = {
                "attempts": out.attempts,
                "error": out.error,
                "kind": out.kind,
            }
        if out.value is None:
            self._event(
                "EvaluationFailed", self.clock(), strategy=name, path=path, error=out.error, failure=out.kind
            )
            return None
        self.cache.put(key, out.value)
        return out.value

    # -- the cycle ---------------------------------------------------------------------------------
    def run_full_pipeline(self) -> dict[str, Any]:
        now = self.clock()
        self.memory.runs += 1
        stamp = f"{dt.datetime.fromtimestamp(now, dt.UTC):%Y%m%dT%H%M%S}"
        run_id = f"{stamp}-{self.memory.runs:05d}-{self.flags.fingerprint()[:6]}"
        snap = EvidenceSnapshot(run_id, now, self.flags.export(), self.flags.fingerprint())
        hits0, miss0 = self.cache.hits, self.cache.misses
        records = self.store.list_strategies()
        policies = self.store.risk_policies()
        budget = self.scaler.budget()
        if budget != self.memory.budget:
            why = f"acceptance {self.scaler.acceptance()} over {len(self.scaler.outcomes)} recent candidates"
            self._event("PoolBudgetChanged", now, old=self.memory.budget, new=budget, reason=why)
            snap.decisions.append(
                {"action": "budget", "from": self.memory.budget, "to": budget, "reason": why}
            )
            self.memory.budget = budget
        snap.pool = {**self.scaler.export(), "budget": budget}
        by_name = {r.name: r for r in records}
        for r in records:
            self.queue.put(WorkItem(r.name, "full"))
        eligible = [r for r in records if r.name not in self.memory.retired]
        for i in range(budget if eligible else 0):
            self.queue.put(WorkItem(eligible[i % len(eligible)].name, "candidate", {"n": i}))
        while (item := self.queue.get()) is not None:
            rec = by_name[item.strategy]
            try:
                if item.path == "candidate":
                    self._candidate(snap, rec, int(item.params["n"]))
                    continue
                ok, why = self.store.claim(
                    rec.name, self.holder, self.claim_ttl, self.claim_fresh, self.clock()
                )
                if not ok:
                    snap.decisions.append({"strategy": rec.name, "action": "skip", "reason": f"claim: {why}"})
                    continue
                try:
                    self._strategy(snap, rec, policies)
                finally:
                    self.store.release(rec.name, self.holder, self.clock())
            except StatusWriteError as e:
                self._event("StatusWriteFailed", self.clock(), strategy=rec.name, error=str(e))
                snap.decisions.append({"strategy": rec.name, "action": "error", "reason": str(e)})
        snap.dedup = {"hits": self.cache.hits - hits0, "misses": self.cache.misses - miss0}
        snap.finished_at = self.clock()
        self.last_path = snap.persist(self.evidence_dir, self.events)
        self.memory.pool = list(self.scaler.outcomes)
        self.memory.save(self.root / "memory.json")
        self.leaderboard.save(self.root / "leaderboard.json")
        self.last_snapshot = snap.export()
        return self.last_snapshot

    def _params(self, rec: StrategyRecord) -> tuple[dict[str, Any], str]:
        base = spec_fingerprint(rec.spec.entrypoint, rec.spec.params)
        rt = self.memory.retunes.get(rec.name)
        if rt and rt["base"] == base:
            return dict(rt["params"]), base
        return dict(rec.spec.params), base

    def _pair(self, spec: StrategySpec) -> str | None:
        return next((p for p in spec.pairs if p in self.data.files), None)

    def _strategy(
        self, snap: EvidenceSnapshot, rec: StrategyRecord, policies: dict[str, RiskPolicySpec]
    ) -> None:
        now = self.clock()
        name, spec, status = rec.name, rec.spec, rec.status
        stage = status.stage or Stage.COLD
        params, base_fp = self._params(rec)
        self.memory.first_seen.setdefault(name, now)
        try:
            code_fp = code_fingerprint(spec.entrypoint, params)
        except (ValueError, TypeError) as e:  # code that cannot be found cannot keep a stage
            why = f"unusable: {e}"
            d = StageDecision(
                name, "reject" if stage is Stage.COLD else "demote", stage, Stage.COLD, why, base_fp
            )
            snap.inputs[name] = {"entrypoint": spec.entrypoint, "params": params, "fingerprint": base_fp}
            self._record(snap, rec, d, None, None, "", "", {}, now)
            return
        retired = self.memory.retired.get(name)
        recorded = (status.evidence or {}).get("retired")
        if retired is None and isinstance(recorded, dict) and recorded.get("fingerprint") == base_fp:
            retired = self.memory.retired[name] = recorded  # the status remembers what a restart forgot
        if retired and retired["fingerprint"] == base_fp:
            snap.decisions.append(
                {"strategy": name, "action": "skip", "reason": f"retired: {retired['reason']}"}
            )
            return
        if retired:  # spec changed since: a new strategy as far as the pipeline is concerned
            self.memory.retired.pop(name)
        pair = self._pair(spec)
        snap.inputs[name] = {
            "entrypoint": spec.entrypoint, "params": params, "specParams": spec.params,
            "fingerprint": base_fp, "codeFingerprint": code_fp, "stage": stage.value,
            "desiredStage": spec.desired_stage.value, "pair": pair,
        }  # fmt: skip
        if pair is None:
            reason = f"no candle data configured for pairs {spec.pairs}"
            snap.decisions.append(
                {"strategy": name, "action": "skip", "reason": reason, "fingerprint": base_fp}
            )
            return
        try:
            bars = self.data.bars(pair)
        except (OSError, ValueError, KeyError) as e:  # the pipeline's data problem, not the strategy's
            why = f"data for {pair} unavailable: {e}"
            snap.decisions.append({"strategy": name, "action": "skip", "reason": why, "fingerprint": base_fp})
            self._event("DataUnavailable", now, strategy=name, pair=pair, reason=str(e), fingerprint=base_fp)
            return
        if pair not in snap.data:
            quality = self.data.quality(pair)
            snap.data[pair] = {
                "source": self.data.source(pair), "fingerprint": data_fingerprint(bars), "bars": bars.height,
                "first": int(bars["ts_ms"][0]), "last": int(bars["ts_ms"][-1]), "quality": quality,
            }  # fmt: skip
            if quality.get("quarantined") and pair not in self._quarantine_reported:
                self._quarantine_reported.add(pair)
                self._event("DataQuarantined", now, pair=pair, source=self.data.source(pair),
                            reasons=quality["quarantined"])  # fmt: skip
        metrics: dict[str, Any] = {}
        snap.metrics[name] = metrics
        checks: dict[str, Any] = {}
        snap.checks[name] = checks
        full: Evaluation | None = None
        cold_start = f"{code_fp}|{pair}" not in self.memory.seen
        if cold_start:  # 24: fast path first
            fast = self._evaluate(
                snap, name, spec.entrypoint, params, fast_window(bars, self.flags), pair, "fast"
            )
            if fast is not None:
                metrics["fast"] = fast.metrics()
                ok, why = survives_fast(fast, self.flags)
                checks["fastPath"] = {"passed": ok, "reason": why}
                if ok:
                    full = self._evaluate(snap, name, spec.entrypoint, params, bars, pair, "full")
        else:
            full = self._evaluate(snap, name, spec.entrypoint, params, bars, pair, "full")
        if full is not None:
            metrics["full"] = full.metrics()
            self.memory.seen.setdefault(f"{code_fp}|{pair}", now)
        paper = self._paper(name, status)
        if paper is not None:
            metrics["paper"] = paper.__dict__
        # 33: activity = trades in the recent window of the backtest, or paper fills
        recent_trades = self._recent_trades(full, bars) if full is not None else 0
        if recent_trades > 0 or (paper is not None and paper.trades > 0):
            self.memory.last_active[name] = now
        decision = self._decide(
            snap, name, base_fp, code_fp, spec, status, stage, full, paper, bars, policies, checks
        )
        # 32 leaderboard
        score: float | None = None
        if full is not None:
            score = self.leaderboard.update(name, full.sharpe, now)
        # 27 alerts
        warm_since = _warm_since(status)
        warm_hours = (now - warm_since) / 3600 if (stage is Stage.WARM and warm_since) else None
        for a in evidence_alerts(name, stage, spec.promotion, full, paper, warm_hours, now):
            self._alert(snap, a, base_fp)
        # 33 prune (after the decision: a pruned strategy drops to COLD)
        pr = prune_decision(
            self.memory.last_active.get(name), self.memory.first_seen[name], now, self.flags.prune_after_hours
        )
        checks["activity"] = {"prune": pr.prune, "idleHours": pr.idle_hours, "reason": pr.reason}
        if pr.prune:
            decision = StageDecision(name, "demote" if stage is not Stage.COLD else "hold", stage, Stage.COLD,
                                     f"pruned: {pr.reason}", base_fp, {"pruned": True})  # fmt: skip
            self.memory.retired[name] = {"fingerprint": base_fp, "reason": f"pruned: {pr.reason}", "at": now}
            self.leaderboard.forget(name)
            score = None
            self._event("StrategyPruned", now, strategy=name, fingerprint=base_fp, reason=pr.reason)
        self._record(snap, rec, decision, full, score, code_fp, pair, checks, now)

    def _recent_trades(self, full: Evaluation, bars: pl.DataFrame) -> int:
        if not full.orders:
            return 0
        cutoff = float(bars["ts_ms"][max(0, bars.height - self.flags.fast_bars)]) / 1000.0
        return sum(1 for o in full.orders if o.ts >= cutoff)

    def _paper(self, name: str, status: StrategyStatus) -> PaperResult | None:
        if self.paper is None or status.stage in (None, Stage.COLD):
            return None
        since = _warm_since(status) or 0.0
        return self.paper.paper(name, int(since * 1e9))

    def _decide(
        self, snap: EvidenceSnapshot, name: str, base_fp: str, code_fp: str, spec: StrategySpec,
        status: StrategyStatus, stage: Stage, full: Evaluation | None, paper: PaperResult | None,
        bars: pl.DataFrame, policies: dict[str, RiskPolicySpec], checks: dict[str, Any],
    ) -> StageDecision:  # fmt: skip
        now = self.clock()
        limits = DemotionThresholds(self.flags.warm_loss_fraction, self.flags.cold_loss_fraction)
        loss = decide_loss(name, base_fp, stage, paper, limits)
        if loss is not None:  # 63
            d, dem = loss
            demote(dem, self.events, now)
            return d
        lowered = decide_desired(name, base_fp, stage, spec)
        if lowered is not None:
            return lowered
        if stage is Stage.COLD:
            gov: GovernorReport | None = None
            if (
                full is not None
                and meets_policy(full, spec.promotion)[0]
                and spec.desired_stage is not Stage.COLD
            ):
                pol_name = spec.risk_policy_ref if spec.risk_policy_ref in policies else "global"
                policy = policies.get(pol_name) or RiskPolicySpec()
                gov = simulate_promotion(  # 64: before every COLD → WARM
                    name,
                    full.sim_orders(name, self.flags.slippage_bps),
                    policy,
                    capital=Decimal(repr(self.flags.capital)),
                    audit=self.events,
                )
                checks["governor"] = {
                    "policy": pol_name if pol_name in policies else "(defaults)", "passed": gov.passed,
                    "orders": gov.orders, "breaches": len(gov.breaches), "reason": gov.explain(),
                }  # fmt: skip
            fast_check = checks.get("fastPath")
            if full is None and fast_check is not None and not fast_check["passed"]:
                why = f"fast path: {fast_check['reason']}"
                return StageDecision(name, "reject", stage, stage, why, base_fp)
            return decide_cold(name, base_fp, spec, full, gov)
        if stage is Stage.WARM:
            warm_since = _warm_since(status) or now
            hours = (now - warm_since) / 3600
            validation: ValidationReport | None = None
            env: EnvelopeCheck | None = None
            ready = spec.desired_stage is Stage.HOT and hours >= spec.promotion.min_warm_hours
            if ready and full is not None and meets_policy(full, spec.promotion)[0]:
                params = snap.inputs[name]["params"]
                pair = snap.inputs[name]["pair"]
                validation = cross_validate(  # 34
                    lambda b: self._evaluate(snap, name, spec.entrypoint, params, b, pair, "split")
                    or Evaluation("", "", 0, 0, 0.0, 1.0, 0.0, 0.0),
                    bars, k=spec.promotion.cross_splits, method=self.flags.validation,
                    embargo=self.flags.embargo_bars, warmup=self._warmup(params),
                    max_drawdown=spec.promotion.max_drawdown,
                    min_pass_fraction=self.flags.split_min_pass_fraction,
                )  # fmt: skip
                checks["validation"] = validation.export()
                if validation.passed:  # 35
                    window = max(1, round((paper.hours if paper else 0) * 3_600_000 / max(full.bar_ms, 1)))
                    envelope = backtest_envelope(
                        np.asarray(full.equity),
                        window,
                        self.flags.envelope_quantile,
                        self.flags.envelope_drawdown_slack,
                    )
                    env = check_envelope(envelope, paper)
                    checks["envelope"] = {
                        "passed": env.passed, "reason": env.reason,
                        "envelope": env.envelope.__dict__ if env.envelope else None,
                    }  # fmt: skip
            params = snap.inputs[name]["params"]
            retuned = params if params != dict(spec.params) else None
            d = decide_warm(name, base_fp, spec, full, validation, env, hours, retuned)
            if d.action == "hold" and d.reason.startswith(RETUNE_HOLD):  # a spec change must apply it
                self._event("RetuneAwaitingApply", now, strategy=name, params=retuned, reason=d.reason)
            return d
        return StageDecision(name, "hold", stage, stage, "HOT: no demotion trigger", base_fp)

    @staticmethod
    def _warmup(params: Mapping[str, Any]) -> int:
        nums = [int(v) for k, v in params.items() if isinstance(v, int) and not isinstance(v, bool)]
        return max([50, *(3 * n for n in nums)])

    def _record(
        self, snap: EvidenceSnapshot, rec: StrategyRecord, d: StageDecision, full: Evaluation | None,
        score: float | None, code_fp: str, pair: str, checks: dict[str, Any], now: float,
    ) -> None:  # fmt: skip
        name, status = rec.name, rec.status
        rejections = status.rejection_count or 0
        evidence: dict[str, Any] = {
            "runId": snap.run_id, "codeFingerprint": code_fp, "pair": pair,
            "dataFingerprint": snap.data.get(pair, {}).get("fingerprint"),
            "metrics": snap.metrics.get(name, {}).get("full"), "checks": checks,
            "decision": {"action": d.action, "reason": d.reason, "at": _iso(now)},
        }  # fmt: skip
        if d.old is Stage.WARM and d.action == "reject":  # 31
            rejections += 1
            rem = remediate(
                rec.spec.entrypoint, snap.inputs[name]["params"], rec.spec.promotion,
                rejections=rejections, retunes=int(self.memory.retunes.get(name, {}).get("n", 0)),
                after=self.flags.remediate_after, max_retunes=self.flags.max_retunes, variants=4,
                rng=random.Random(f"{self.flags.seed}|{name}|{rejections}"),
                run=lambda p: self._evaluate(
                    snap, name, rec.spec.entrypoint, p, self.data.bars(pair), pair, "retune"
                )
                or Evaluation("", "", 0, 0, 0.0, 1.0, -1.0, 0.0),
            )  # fmt: skip
            evidence["remediation"] = {"action": rem.action, "reason": rem.reason, "params": rem.params}
            if rem.action == "retune":
                n = int(self.memory.retunes.get(name, {}).get("n", 0)) + 1
                self.memory.retunes[name] = {"base": d.fingerprint, "params": rem.params, "n": n}
                rejections = 0
                self._event("StrategyRetuned", now, strategy=name, fingerprint=d.fingerprint,
                            params=rem.params,
                            new_fingerprint=code_fingerprint(rec.spec.entrypoint, rem.params),
                            reason=rem.reason)  # fmt: skip
                snap.decisions.append({"strategy": name, "action": "retune", "reason": rem.reason,
                                       "params": rem.params, "fingerprint": d.fingerprint})  # fmt: skip
            elif rem.action == "retire":
                d = StageDecision(
                    name, "demote", d.old, Stage.COLD, f"retired: {rem.reason}", d.fingerprint, d.checks
                )
                self.memory.retired[name] = {"fingerprint": d.fingerprint, "reason": rem.reason, "at": now}
                self.leaderboard.forget(name)
                score = None
                self._event(
                    "StrategyRetired", now, strategy=name, fingerprint=d.fingerprint, reason=rem.reason
                )
        elif d.action == "promote" or (d.action == "demote" and d.new is Stage.COLD):
            rejections = 0
        # every key, even when empty: a JSON merge patch on Kubernetes must clear stale ones
        evidence["retired"] = self.memory.retired.get(name)
        evidence.setdefault("remediation", None)
        snap.decisions.append({**d.export(), "codeFingerprint": code_fp})
        self._event(
            "PipelineDecision", now, run_id=snap.run_id, strategy=name, action=d.action, old=d.old.value,
            new=d.new.value, reason=d.reason, fingerprint=d.fingerprint, code_fingerprint=code_fp,
            data_fingerprint=evidence["dataFingerprint"], flags_fingerprint=snap.flags_fingerprint,
        )  # fmt: skip
        patch: dict[str, Any] = {
            "stage": d.new.value, "fingerprint": d.fingerprint, "evidence": evidence,
            "lastPipelineRun": snap.run_id, "rejectionCount": rejections,
            "leaderboardScore": None if score is None else round(score, 6),
        }  # fmt: skip
        if d.new is not d.old or status.stage is None:
            t = StageTransition(
                from_stage=status.stage,
                to_stage=d.new,
                reason=d.reason[:1000],
                at=dt.datetime.fromtimestamp(now, dt.UTC),
            )
            trans = [*status.transitions, t][-50:]
            patch["transitions"] = [x.to_wire() for x in trans]
            if d.new is not d.old:
                self._event("StageChanged", now, strategy=name, old=d.old.value, new=d.new.value,
                            reason=d.reason, fingerprint=d.fingerprint, code_fingerprint=code_fp)  # fmt: skip
        self.store.write_status(name, patch)

    def _alert(self, snap: EvidenceSnapshot, a: Alert, fp: str) -> None:
        snap.alerts.append({**a.model_dump(), "fingerprint": fp})
        self._event("EvidenceAlert", a.at, scope=a.scope, title=a.title, detail=a.detail, fingerprint=fp)
        if self.router is not None:
            try:
                asyncio.run(self.router.dispatch(a))
            except RuntimeError:  # called from inside a running loop: deliver on a fresh one
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(self.router.dispatch(a))
                finally:
                    loop.close()

    def _candidate(self, snap: EvidenceSnapshot, rec: StrategyRecord, n: int) -> None:
        """23/24: one param variant near a strategy; fast path, then full path if it survives."""
        pair = self._pair(rec.spec)
        if pair is None:
            return
        params, _ = self._params(rec)
        # seeded by flags + cycle number, never wall time: an exported run repeats exactly (29)
        rng = random.Random(f"{self.flags.seed}|{self.memory.runs}|{rec.name}|{n}")
        try:
            variants = propose_variants(rec.spec.entrypoint, params, 1, rng)
            if not variants:
                return
            cand = variants[0]
            fp = code_fingerprint(rec.spec.entrypoint, cand)
            bars = self.data.bars(pair)
        except (OSError, ValueError, KeyError, TypeError) as e:
            snap.candidates.append({"parent": rec.name, "error": f"{type(e).__name__}: {e}"})
            return
        row: dict[str, Any] = {"parent": rec.name, "params": cand, "fingerprint": fp}
        fast = self._evaluate(
            snap,
            f"{rec.name}~{fp[:6]}",
            rec.spec.entrypoint,
            cand,
            fast_window(bars, self.flags),
            pair,
            "fast",
        )
        accepted = False
        if fast is not None:
            ok, why = survives_fast(fast, self.flags)
            row["fast"] = {"passed": ok, "reason": why, **fast.metrics()}
            if ok:
                full = self._evaluate(
                    snap, f"{rec.name}~{fp[:6]}", rec.spec.entrypoint, cand, bars, pair, "full"
                )
                if full is not None:
                    accepted, why = meets_policy(full, rec.spec.promotion)
                    row["full"] = {"accepted": accepted, "reason": why, **full.metrics()}
        self.scaler.record(accepted)
        row["accepted"] = accepted
        snap.candidates.append(row)
        if accepted:
            self._event("CandidateAccepted", self.clock(), parent=rec.name, fingerprint=fp, params=cand)
