"""Benchmark: one pipeline cycle over real candle files, cold vs. deduplicated.

Why it exists: the pipeline agent must finish a cycle well inside its interval; the dedup cache
(roadmap 26) is what keeps repeated cycles cheap. One momentum strategy per 5m file in the shared
data dir (14 files, ~5.7k bars each), through the real candle lane, governor replay and EventLog.
Usage: ``.venv/bin/python benchmarks/bench_pipeline.py [--cycles 3] [--pool 2]``; prints JSON.
Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from quantops_api import StrategySpec
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.paths import shared_data_dir
from quantops_trading.pipeline.backtest_evaluator import CandleEvaluator
from quantops_trading.pipeline.cycle import Pipeline
from quantops_trading.pipeline.data import CandleFiles
from quantops_trading.pipeline.flags import RunFlags
from quantops_trading.pipeline.store import MemoryStore
from quantops_trading.storage.eventlog import EventLog


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--pool", type=int, default=2)
    ns = ap.parse_args()
    files = sorted((shared_data_dir() / "candles").glob("bittrex_*_5m_*.csv.gz"))
    pairs = {f"P{i}/{f.name.split('_')[1]}".replace("-", ""): str(f) for i, f in enumerate(files)}
    specs = {
        f"s{i}": StrategySpec.model_validate({
            "entrypoint": "quantops_trading.strategies.momentum:Momentum", "pairs": [pair],
            "params": {"fast": 30, "slow": 120, "threshold": 0.005}, "desiredStage": "HOT",
            "promotion": {"minTrades": 10, "minSharpe": 1.0, "maxDrawdown": 0.3, "minWarmHours": 0},
        })
        for i, pair in enumerate(pairs)
    }  # fmt: skip
    policy = {"global": RiskPolicySpec.model_validate({"concentrationCap": 1.0, "maxConsecutiveLosses": 20})}
    flags = RunFlags(pool_min=ns.pool, pool_max=ns.pool)
    out: dict[str, object] = {"strategies": len(specs), "bars": 0, "cycles": []}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        data = CandleFiles(pairs)
        out["bars"] = sum(data.bars(p).height for p in pairs)  # loaded once, outside the timings
        p = Pipeline(store=MemoryStore(specs, policy), evaluator=CandleEvaluator(flags), data=data,
                     state_dir=d, flags=flags, events=EventLog(d / "pipeline.sqlite"))  # fmt: skip
        cycles = []
        for _ in range(ns.cycles):
            t = time.perf_counter()
            snap = p.run_full_pipeline()
            cycles.append({
                "seconds": round(time.perf_counter() - t, 4), "dedup": snap["dedup"],
                "decisions": {a: sum(1 for x in snap["decisions"] if x["action"] == a)
                              for a in ("promote", "reject", "hold", "skip", "demote")},
            })  # fmt: skip
        out["cycles"] = cycles
    print(json.dumps(out))


if __name__ == "__main__":
    main()
