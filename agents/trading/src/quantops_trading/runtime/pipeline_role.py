"""PipelineWork: the pipeline agent runs ``run_full_pipeline`` on its schedule (roadmap 21).

Why it exists: the pipeline role ran IdleWork, so no strategy was ever evaluated or promoted.
Every ``intervalMinutes`` (``intervalSeconds`` overrides, for tests) plus up to ``jitterSeconds``
it runs one cycle (``pipeline.cycle.Pipeline``) in a dedicated worker thread, so heartbeats and
gate watches keep running while backtests compute; cycles never overlap and missed slots are
logged (``CycleMissed`` in the event log), never stacked. The work queue's length is what this
agent reports in its heartbeat, so the operator's queue-based autoscaling sizes the pool; replicas
claim each strategy before evaluating it (a Lease per strategy on Kubernetes, ``pipeline.claims``),
so added replicas take strategies the others have not, and a crashed replica's claim expires.

Config (``spec.config``): ``data`` (pair → candle file, relative to the shared data dir),
``flags`` (``RunFlags`` overrides: the run-level feature flags every evidence snapshot exports),
``alerts`` (an ``AlertRouter`` config; default ``<state>/alerts.jsonl``). Strategies come from the
control plane: the supervisor under ``quantops up`` (``$QUANTOPS_CONTROL_URL``), else the
namespace's Strategy objects (status written through the status subresource). Decisions go to
``<state>/eventlogs/pipeline-<agent>.sqlite``; evidence snapshots to ``<state>/pipeline/evidence``.

Gates: under an effective STOP or PAUSE a cycle is skipped (logged) — promotions add risk, so the
pipeline fails closed with the rest of the agent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import random
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quantops_api import Gate
from quantops_api.v1alpha1.roleconfig import PipelineConfig
from quantops_trading.data.quarantine import QuarantineStore
from quantops_trading.observability.alerts import router_from_config
from quantops_trading.pipeline.backtest_evaluator import CandleEvaluator
from quantops_trading.pipeline.cycle import Pipeline
from quantops_trading.pipeline.data import CandleFiles
from quantops_trading.pipeline.flags import RunFlags
from quantops_trading.pipeline.paper import EventLogPaper
from quantops_trading.pipeline.scheduler import CycleScheduler
from quantops_trading.pipeline.store import StrategyStore
from quantops_trading.runtime.agent import AgentRuntime, IdleWork
from quantops_trading.runtime.control import KubeCredentials
from quantops_trading.runtime.roleconfig import alerts_dict, config_or_exit
from quantops_trading.runtime.strategy_status import KubeStrategyStatus, LocalStrategyStatus
from quantops_trading.storage.eventlog import EventLog

__all__ = ["PipelineWork"]


def _emit(kind: str, **fields: Any) -> None:
    print(json.dumps({"event": kind, **fields}, default=str), flush=True)


class PipelineWork(IdleWork):
    def __init__(self, config: Mapping[str, Any] | PipelineConfig, state_dir: Path | None = None) -> None:
        cfg = config_or_exit(PipelineConfig, config)  # flags checked with RunFlags there too
        self.state_dir = state_dir or Path(os.environ.get("QUANTOPS_STATE_DIR", ".quantops"))
        self.flags = RunFlags.model_validate(cfg.flags)
        self.data = CandleFiles(
            dict(cfg.data),
            max_fill_bars=self.flags.max_fill_bars,
            drop_bad_prints=self.flags.drop_bad_prints,
            quarantine=QuarantineStore(self.state_dir / "quarantine"),
        )
        interval = cfg.interval
        self.interval = interval
        self.replica = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
        try:
            self.scheduler = CycleScheduler(interval, cfg.jitter_seconds, random.Random(), log=self._log)
        except ValueError as e:
            raise SystemExit(f"spec.config.{e}") from e
        self.alerts_cfg = alerts_dict(cfg.alerts)
        self.pipeline: Pipeline | None = None
        self.events: EventLog | None = None
        self.state = "starting"
        self.last: dict[str, Any] = {}
        self.error: str | None = None
        self.skipped = 0
        self.completed = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pipeline")
        self._rt: AgentRuntime | None = None

    # -- events (always on the worker thread, which owns the SQLite connection) ---------------------
    def _append(self, kind: str, fields: dict[str, Any]) -> None:
        if self.events is not None:
            self.events.append({"kind": kind, "ts_ns": time.time_ns(), **fields})

    def _log(self, kind: str, **fields: Any) -> None:
        _emit(f"pipeline_{kind}", **fields)
        if kind in ("cycle_missed", "cycle_failed", "cycle_skipped"):
            name = {
                "cycle_missed": "CycleMissed",
                "cycle_failed": "CycleFailed",
                "cycle_skipped": "CycleSkipped",
            }
            self._pool.submit(self._append, name[kind], fields)

    def _setup(self, agent: str) -> None:
        store: StrategyStore
        control = os.environ.get("QUANTOPS_CONTROL_URL", "")
        store = (
            LocalStrategyStatus(control, agent) if control else KubeStrategyStatus(KubeCredentials.discover())
        )
        (self.state_dir / "eventlogs").mkdir(parents=True, exist_ok=True)
        self.events = EventLog(self.state_dir / "eventlogs" / f"pipeline-{agent}.sqlite")
        self.pipeline = Pipeline(
            store=store,
            evaluator=CandleEvaluator(self.flags),
            data=self.data,
            state_dir=self.state_dir,
            flags=self.flags,
            events=self.events,
            router=router_from_config(self.alerts_cfg, self.state_dir),
            paper=EventLogPaper(self.state_dir / "eventlogs", self.flags.capital),
            holder=self.replica,
            claim_ttl=max(60.0, self.interval),
            claim_fresh=0.8 * self.interval,
        )

    def _cycle(self) -> dict[str, Any]:
        assert self.pipeline is not None
        snap = self.pipeline.run_full_pipeline()
        return {
            "runId": snap["runId"],
            "decisions": [
                {k: d.get(k) for k in ("strategy", "action", "from", "to", "reason")}
                for d in snap["decisions"]
            ],
            "dedup": snap["dedup"],
            "evidence": str(self.pipeline.last_path),
            "pool": snap["pool"],
        }

    async def _run_cycle(self) -> None:
        rt = self._rt
        assert rt is not None
        gate = rt.effective_gate()
        if gate in (Gate.STOP, Gate.PAUSE):
            self.skipped += 1
            self._log("cycle_skipped", reason=f"effective gate {gate.value}: no promotions while gated")
            return
        self.state = "running"
        loop = asyncio.get_running_loop()
        try:
            self.last = await loop.run_in_executor(self._pool, self._cycle)
            self.completed += 1
            self.error = None
            _emit("pipeline_cycle_done", agent=rt.name, **self.last)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
            raise
        finally:
            self.state = "idle"

    async def run(self, rt: AgentRuntime) -> None:
        self._rt = rt
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._setup, rt.name)
        self.state = "idle"
        try:
            await self.scheduler.run(self._run_cycle, rt.stopping)
        finally:
            await self.flush()

    def queue_length(self) -> int:
        return len(self.pipeline.queue) if self.pipeline is not None else 0

    async def flush(self) -> None:
        events = self.events
        if events is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, events.checkpoint)

    def describe(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "cycles": self.completed,
            "missed": self.scheduler.missed,
            "skipped": self.skipped,
            "queue": self.queue_length(),
            "lastRun": self.last,
            "error": self.error,
            "flagsFingerprint": self.flags.fingerprint(),
        }
