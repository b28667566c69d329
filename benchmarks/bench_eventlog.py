"""Benchmark: event-log append rate under the documented fsync policy, and chain verification time.

Why it exists: roadmap 84 promises durability (``synchronous=FULL``: one WAL fsync per ``append``,
one per ``append_many`` batch) and verify-on-open; this prints what they cost on this machine.
Usage: ``.venv/bin/python benchmarks/bench_eventlog.py [--single 2000] [--batched 100000]
[--batch-size 1000] [--verify-rows 1000000]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from quantops_trading.model import GateChanged
from quantops_trading.storage import EventLog


def _event(i: int) -> GateChanged:
    return GateChanged(scope="strategy/bench", old="GO", new="PAUSE", actor="bench", reason=f"r{i}", ts_ns=i)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=2_000, help="events appended one durable txn each")
    parser.add_argument("--batched", type=int, default=100_000, help="events appended in batches")
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--verify-rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        with EventLog(root / "single.sqlite") as log:
            events = [_event(i) for i in range(args.single)]
            t0 = time.perf_counter()
            for ev in events:
                log.append(ev)
            single_s = time.perf_counter() - t0
        with EventLog(root / "batched.sqlite") as log:
            events = [_event(i) for i in range(args.batched)]
            t0 = time.perf_counter()
            for i in range(0, len(events), args.batch_size):
                log.append_many(events[i : i + args.batch_size])
            batched_s = time.perf_counter() - t0
        big = root / "verify.sqlite"
        with EventLog(big) as log:
            template = _event(0).model_dump(mode="json")
            t0 = time.perf_counter()
            for start in range(0, args.verify_rows, 50_000):
                n = min(50_000, args.verify_rows - start)
                log.append_many([{**template, "ts_ns": start + j} for j in range(n)])
            build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with EventLog(big) as log:  # verify on open
            rows = len(log)
        open_verify_s = time.perf_counter() - t0
        size_mb = big.stat().st_size / 1e6
    result = {
        "benchmark": "eventlog",
        "fsync_policy": "synchronous=FULL; append = 1 txn/fsync per event; append_many = 1 per batch",
        "single_appends": args.single,
        "single_appends_per_s": round(args.single / single_s, 1),
        "batched_appends": args.batched,
        "batch_size": args.batch_size,
        "batched_appends_per_s": round(args.batched / batched_s, 1),
        "verify_rows": rows,
        "verify_on_open_s": round(open_verify_s, 3),
        "verify_rows_per_s": round(rows / open_verify_s, 1),
        "build_verify_log_s": round(build_s, 3),
        "log_size_mb": round(size_mb, 1),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
