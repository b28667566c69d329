"""Benchmark: the candle lane vs vectorbt vs backtesting.py vs a plain NumPy reference, and the
non-candle lane's L2 updates/second vs a plain Python loop and a NumPy reference (roadmap 22).

Why it exists: the pipeline re-runs every candidate's backtest every few minutes, so the candle
lane must be at least as fast as the library we would otherwise use (target: faster than vectorbt
``Portfolio.from_signals`` at 1M bars, within 1.5x of the plain NumPy reference), and the event
lane must keep up with L2 replay (target: >= 500k book updates/s end to end).

The NumPy reference (:func:`numpy_reference`) is the fastest honest plain-NumPy implementation of
the same backtest — same signals, fees, slippage, next-bar-open fills, same equity curve, trades
and metrics — with nothing of quantops inside it (no input checks, no signal function, no
fingerprints). ``lane_vs_numpy_reference`` times lane and reference in one process, in
interleaved rounds (``--rounds``, best of each), after checking that both computed the same
backtest; the lane is timed with both fingerprints given and end to end (computed: sha256 of
strategy source and of every data column). Workloads there: this benchmark's and issue 18's
(SMA 10/50, fee 0.1 %, no slippage). ``--reference-only`` runs just that.

Workload elsewhere: SMA(50)/SMA(200) crossover (plain-NumPy signals for vectorbt and
backtesting.py, ``MaCrossover`` inside the lane; signal time included in every engine's figure),
fee 0.05 %, slippage 1 bp (0 for backtesting.py, whose ``spread`` is entry-only), all cash in.
Candles are a synthetic 1m random walk (the shared files hold at most ~14k bars; the parity tests
run on those). Sizes: 100k, 1M, 5M bars and 20 pairs x 250k bars (``--quick``: 100k and 1M, 4
pairs x 250k). backtesting.py runs at 100k and 1M only (it is an event loop in Python: ~25 us/bar,
and its stats step is heavy); vectorbt is timed after a warm-up call on 1k bars with the same
number of columns (numba compiles again for multi-column input) so compilation (reported as
``warmup_compile_s``) is not counted.

Each (engine, size) runs in its own subprocess: ``wall_s`` is the best of 5 calls of the backtest
(1 for backtesting.py at 1M; all in ``wall_s_all``; data generation and imports excluded — the
machine is shared, so the minimum is the least noisy figure), ``peak_rss_mb`` the process max RSS
afterwards and ``base_rss_mb`` the RSS before the first call, so ``peak - base`` is what it added.

The L2 stream is the shared Binance spot BTC/USDT top-20 file (6,493 updates), tiled end to end
(timestamps shifted by its span) to ``--updates`` rows; Momentum(5, 20) on 1 s bars, full
RiskGateway and MatchingEngine, at 1 s and 60 s bars (best of 3). Reported with the data
fingerprint given (the pipeline computes it once per data set; its cost is ``data_fingerprint_s``)
and once end to end with it.

Usage: ``.venv/bin/python benchmarks/bench_backtest.py [--quick] [--rounds N] [--reference-only]``;
prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import polars as pl

FEE, SLIP_BPS, FAST, SLOW = 0.0005, 1.0, 50, 200
# In-process lane vs reference: this benchmark's workload and issue 18's (MA 10/50, 0.1 % fee).
WORKLOADS = {"sma50_200": (FAST, SLOW, FEE, SLIP_BPS), "sma10_50": (10, 50, 0.001, 0.0)}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic_bars(n: int, seed: int = 7) -> pl.DataFrame:
    """1m random-walk OHLCV with open-labelled ``ts_ms`` (same generator as bench_features)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate([[close[0]], close[:-1]]) * (1 + rng.normal(0.0, 0.0002, n))
    spread = np.abs(rng.normal(0.0, 0.0005, n)) * close
    return pl.DataFrame(
        {
            "ts_ms": 1_700_000_000_000 + 60_000 * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.gamma(2.0, 5.0, n),
        }
    )


def numpy_ma_signals(close: np.ndarray, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain NumPy SMA crossover, full length: what vectorbt and backtesting.py are fed.

    ``entries[t]``: fast above slow on bar t and not on bar t-1 (both defined); exits mirror it.
    Window sums as differences of one cumsum, exactly as ``MaCrossover`` computes them, so every
    engine trades on the very same decisions.
    """
    n = close.shape[0]
    entries, exits = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if n > slow:
        c = np.empty(n + 1)
        c[0] = 0.0
        np.cumsum(close, out=c[1:])
        fs = (c[slow:] - c[slow - fast : n + 1 - fast]) / fast
        ss = (c[slow:] - c[: n + 1 - slow]) / slow
        above, below = fs > ss, fs < ss
        entries[slow:] = above[1:] & ~above[:-1]
        exits[slow:] = below[1:] & ~below[:-1]
    return entries, exits


def numpy_reference(
    frame: pl.DataFrame, fast: int, slow: int, fee: float, slip_bps: float, *, metrics: bool = True
) -> dict[str, Any]:
    """The same backtest in plain NumPy (nothing of quantops inside): the fastest honest version.

    Same model as the candle lane with all cash in: SMA(fast)/SMA(slow) crossover decided on bar
    closes, filled at the next bar's open (slippage against the order, fee on notional, a decision
    on the last bar never fills, an open position marked at close). No input checks, no per-bar
    arrays beyond what the arithmetic needs: signals only on the bars where both averages exist,
    position flips only on the deciding bars, equity as a step function times ``close``.
    ``metrics`` adds what the lane's result also carries (max drawdown, Sharpe, turnover).
    """
    ts_ms, open_, close = (frame.get_column(c).to_numpy() for c in ("ts_ms", "open", "close"))
    n, s, cash0 = close.shape[0], slip_bps / 1e4, 10_000.0
    c = np.empty(n + 1)
    c[0] = 0.0
    np.cumsum(close, out=c[1:])
    fs = (c[slow:] - c[slow - fast : n + 1 - fast]) / fast  # bars slow-1 .. n-1
    ss = (c[slow:] - c[: n + 1 - slow]) / slow
    above, below = fs > ss, fs < ss
    ent = above[1:] & ~above[:-1]  # decisions on bars slow .. n-1
    dec = np.flatnonzero(ent | (below[1:] & ~below[:-1]))
    dec = dec[dec < n - 1 - slow]  # a decision on the last bar never fills
    want = ent[dec]
    flip = np.empty_like(want)
    flip[:1] = want[:1]
    flip[1:] = want[1:] != want[:-1]
    fill = dec[flip] + (slow + 1)  # buy, sell, buy, … (fill bars)
    bi, si = fill[0::2], fill[1::2]
    bp, sp = open_[bi] * (1 + s), open_[si] * (1 - s)
    k = si.shape[0]
    cash = cash0 * np.concatenate(([1.0], np.cumprod((sp * (1 - fee)) / (bp[:k] * (1 + fee)))))
    qty = cash[: bi.shape[0]] / (bp * (1 + fee))
    level = np.empty(fill.shape[0] + 1)  # flat: cash; long: qty (times close below)
    level[0::2], level[1::2] = cash, qty
    lengths = np.diff(fill, prepend=0, append=n)
    equity = np.repeat(level, lengths)
    long_ = np.zeros(level.shape[0], dtype=bool)
    long_[1::2] = True
    np.multiply(equity, close, out=equity, where=np.repeat(long_, lengths))
    notional = float(np.dot(qty, bp) + np.dot(qty[:k], sp))
    out: dict[str, Any] = {"final_equity": float(equity[-1]), "trades": int(bi.shape[0])}
    out.update(fees=fee * notional, equity=equity, fills=fill, qty=qty)
    if metrics:
        out["max_drawdown"] = float(1.0 - np.min(equity / np.maximum.accumulate(equity)))
        r = equity[1:] / equity[:-1]
        r -= 1.0
        sd = float(np.std(r, ddof=1))
        bar_ms = float(ts_ms[1] - ts_ms[0])  # evenly spaced bars (the lane takes the median spacing)
        out["sharpe"] = float(np.mean(r) / sd * (365 * 24 * 3_600_000 / bar_ms) ** 0.5) if sd > 1e-15 else 0.0
        out["turnover"] = notional / cash0
    return out


_SAME_SCALARS = (
    ("final_equity", "final_equity"),
    ("fees_paid", "fees"),
    ("max_drawdown", "max_drawdown"),
    ("sharpe", "sharpe"),
    ("turnover", "turnover"),
)


def _same_backtest(lane: Any, ref: dict[str, Any]) -> bool:
    """Same trades on the same bars, the same equity curve and scalars (to 1e-12 relative)."""
    return (
        lane.trades == ref["trades"]
        and [o.bar for o in lane.orders] == ref["fills"].tolist()
        and bool(np.allclose(lane.equity, ref["equity"], rtol=1e-12, atol=0.0))
        and all(abs(getattr(lane, k) - ref[r]) <= 1e-12 * max(1.0, abs(ref[r])) for k, r in _SAME_SCALARS)
    )


def _interleaved(
    runs: dict[str, Callable[[], Any]], rounds: int
) -> tuple[dict[str, list[float]], list[float]]:
    """Wall times of every run per round (order rotated each round) and the CPU time of the last run."""
    walls: dict[str, list[float]] = {k: [] for k in runs}
    cpus: list[float] = []
    order, last = list(runs), list(runs)[-1]
    for i in range(rounds):
        for key in order[i % len(order) :] + order[: i % len(order)]:
            t, c = time.perf_counter(), time.process_time()
            runs[key]()
            walls[key].append(time.perf_counter() - t)
            if key == last:
                cpus.append(time.process_time() - c)
    return walls, cpus


def lane_vs_reference(n: int, rounds: int) -> dict[str, Any]:
    """The candle lane against :func:`numpy_reference` in one process, interleaved rounds.

    Each round times, in rotating order: the reference with and without metrics, the lane with
    both fingerprints given, and the lane end to end (fingerprints computed: the data's sha256
    runs on worker threads while it simulates). Reported: the best wall time of each over the
    rounds, its ratios, and the lane's CPU time (all threads) in its best end-to-end round. Before
    timing, every workload checks that lane and reference computed the same backtest.
    """
    from quantops_trading.backtest import BacktestConfig, MaCrossover, run_candle

    frame = synthetic_bars(n)
    out: dict[str, Any] = {"bars": n, "rounds": rounds}
    for name, (fast, slow, fee, slip) in WORKLOADS.items():
        sig, cfg = MaCrossover(fast, slow), BacktestConfig(fee_rate=fee, slippage_bps=slip)
        ref, lane = numpy_reference(frame, fast, slow, fee, slip), run_candle(sig, frame, cfg)
        if not _same_backtest(lane, ref):
            raise SystemExit(f"{name}: the lane and the NumPy reference disagree: {lane.metrics()} vs {ref}")
        args = (frame, fast, slow, fee, slip)
        given = {"data_fingerprint": "-", "strategy_fingerprint": "-"}
        walls, cpus = _interleaved(
            {
                "numpy_reference": partial(numpy_reference, *args),
                "numpy_reference_no_metrics": partial(numpy_reference, *args, metrics=False),
                "lane_fingerprints_given": partial(run_candle, sig, frame, cfg, **given),
                "lane_end_to_end": partial(run_candle, sig, frame, cfg),
            },
            rounds,
        )
        best = {k: min(v) for k, v in walls.items()}
        ref_s, core_s = best["numpy_reference"], best["numpy_reference_no_metrics"]
        given_s, e2e_s = best["lane_fingerprints_given"], best["lane_end_to_end"]
        out[name] = {
            "workload": f"SMA({fast})/SMA({slow}) crossover, fee {fee}, slippage {slip} bps",
            "trades": ref["trades"],
            "final_equity": ref["final_equity"],
            "best_wall_s": {k: round(v, 4) for k, v in best.items()},
            "lane_given_over_reference": round(given_s / ref_s, 2),
            "lane_end_to_end_over_reference": round(e2e_s / ref_s, 2),
            "lane_given_over_reference_no_metrics": round(given_s / core_s, 2),
            "lane_end_to_end_over_reference_no_metrics": round(e2e_s / core_s, 2),
            "lane_end_to_end_cpu_s_in_best_round": round(cpus[walls["lane_end_to_end"].index(e2e_s)], 4),
            "wall_s_all": {k: [round(w, 4) for w in v] for k, v in walls.items()},
        }
    return out


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    engine, n, pairs = spec["engine"], int(spec["bars"]), int(spec.get("pairs", 1))
    if engine == "lane_vs_reference":
        return lane_vs_reference(n, int(spec["rounds"]))
    frames = [synthetic_bars(n, seed=7 + p) for p in range(pairs)]
    out: dict[str, Any] = {"engine": engine, "bars": n, "pairs": pairs}
    run: Callable[[], tuple[float, int]]
    if engine == "vectorbt":
        import pandas as pd
        import vectorbt as vbt

        def run_vbt(fs: list[pl.DataFrame]) -> tuple[float, int]:
            opens = [f.get_column("open").to_numpy() for f in fs]
            closes = [f.get_column("close").to_numpy() for f in fs]
            sigs = [numpy_ma_signals(c, FAST, SLOW) for c in closes]
            idx = pd.RangeIndex(closes[0].shape[0])
            close = pd.DataFrame(dict(enumerate(closes)), index=idx)
            price = pd.DataFrame(dict(enumerate(opens)), index=idx)
            e = pd.DataFrame({p: np.concatenate(([False], s[0][:-1])) for p, s in enumerate(sigs)}, index=idx)
            x = pd.DataFrame({p: np.concatenate(([False], s[1][:-1])) for p, s in enumerate(sigs)}, index=idx)
            pf = vbt.Portfolio.from_signals(
                close, e, x, price=price, fees=FEE, slippage=SLIP_BPS / 1e4, init_cash=10_000.0
            )
            value = pf.value().to_numpy()
            return float(value[-1].sum()), int(pf.trades.count().sum())

        t = time.perf_counter()
        run_vbt([synthetic_bars(1_000, seed=1 + p) for p in range(pairs)])  # same column count: 2D recompiles
        out["warmup_compile_s"] = round(time.perf_counter() - t, 3)
        run = lambda: run_vbt(frames)  # noqa: E731
    elif engine == "backtesting_py":
        import pandas as pd
        from backtesting import Backtest
        from backtesting import Strategy as BtStrategy

        def run_bt() -> tuple[float, int]:
            cols = {
                k.capitalize(): frames[0].get_column(k).to_numpy() for k in ("open", "high", "low", "close")
            }
            entries, exits = numpy_ma_signals(cols["Close"], FAST, SLOW)

            class Replay(BtStrategy):  # type: ignore[misc]
                def init(self) -> None:
                    return None

                def next(self) -> None:
                    i = len(self.data) - 1
                    if entries[i] and not self.position:
                        self.buy()
                    elif exits[i] and self.position:
                        self.position.close()

            ts = pd.to_datetime(frames[0].get_column("ts_ms").to_numpy(), unit="ms")
            df = pd.DataFrame({**cols, "Volume": frames[0].get_column("volume").to_numpy()}, index=ts)
            stats = Backtest(df, Replay, cash=10_000.0, commission=FEE, finalize_trades=False).run()
            return float(stats["Equity Final [$]"]), int(stats["# Trades"])

        run = run_bt
    elif engine == "numpy_reference":

        def run_ref() -> tuple[float, int]:
            final, trades = 0.0, 0
            for f in frames:
                r = numpy_reference(f, FAST, SLOW, FEE, SLIP_BPS)
                final, trades = final + r["final_equity"], trades + r["trades"]
            return final, trades

        run = run_ref
    elif engine in ("candle_lane", "candle_lane_no_fingerprint"):
        from quantops_trading.backtest import BacktestConfig, MaCrossover, run_candle

        sig = MaCrossover(FAST, SLOW)
        cfg = BacktestConfig(fee_rate=FEE, slippage_bps=SLIP_BPS)
        given = {"data_fingerprint": "-", "strategy_fingerprint": "-"}
        kw = given if engine.endswith("no_fingerprint") else {}

        def run_lane() -> tuple[float, int]:
            final, trades = 0.0, 0
            for f in frames:
                r = run_candle(sig, f, cfg, **kw)
                final, trades = final + r.final_equity, trades + r.trades
            return final, trades

        run = run_lane
    else:
        raise SystemExit(f"unknown engine {engine!r}")
    out["base_rss_mb"] = round(_rss_mb(), 1)
    walls = []
    for _ in range(int(spec.get("repeats", 5))):
        t = time.perf_counter()
        final, trades = run()
        walls.append(time.perf_counter() - t)
    out["wall_s"] = round(min(walls), 4)
    out["wall_s_all"] = [round(w, 4) for w in walls]
    out["peak_rss_mb"] = round(_rss_mb(), 1)
    out["final_equity"], out["trades"] = final, trades
    return out


def _spawn(spec: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return {**spec, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _tiled_book(updates: int) -> pl.DataFrame:
    from quantops_trading.data import load_feed

    base = load_feed("orderbook/binance-spot_BTC-USDT_L2top20_20240808-09_reconstructed.csv.gz", "book").frame
    keep = [c for c in base.columns if not c.startswith("lineage_") and c != "pair"]
    base = base.select(keep).sort("ts_ms")
    span = int(base["ts_ms"][-1] - base["ts_ms"][0]) + 1_000
    reps = -(-updates // base.height)
    ids = int(base["last_update_id"].max()) - int(base["first_update_id"].min()) + 1
    tiles = [
        base.with_columns(
            pl.col("ts_ms") + r * span,
            pl.col("first_update_id") + r * ids,
            pl.col("last_update_id") + r * ids,
        )
        for r in range(reps)
    ]
    return pl.concat(tiles).head(updates)


def _python_loop(events: pl.DataFrame, bar_ms: int, params: Any) -> int:
    """Row by row: mid, OHLC bars, the same strategy on every bar close (no risk, no matching)."""
    from quantops_trading.strategies.momentum import Momentum
    from quantops_trading.strategy.base import Bar

    strat = Momentum(params)
    cur: int | None = None
    o = h = lo = c = 0.0
    nbars = 0
    for ts, bid, ask in events.select("ts_ms", "bid_px_1", "ask_px_1").iter_rows():
        mid = (bid + ask) / 2
        b = ts // bar_ms
        if b != cur:
            if cur is not None:
                strat.on_bar(Bar("BTC/USDT@binance", (cur + 1) * bar_ms, o, h, lo, c))
                nbars += 1
            cur, o, h, lo = b, mid, mid, mid
        h, lo, c = max(h, mid), min(lo, mid), mid
    return nbars


def _numpy_reference(events: pl.DataFrame, bar_ms: int) -> int:
    """The same mids and OHLC bars, vectorised; no strategy, risk or matching (the floor)."""
    arr = events.select("ts_ms", "bid_px_1", "ask_px_1").to_numpy()
    mid = (arr[:, 1] + arr[:, 2]) / 2
    bucket = arr[:, 0].astype(np.int64) // bar_ms
    starts = np.concatenate(([0], np.flatnonzero(np.diff(bucket)) + 1))
    hi, lo = np.maximum.reduceat(mid, starts), np.minimum.reduceat(mid, starts)
    ohlc = (mid[starts], hi, lo, mid[starts[1:] - 1])
    return int(ohlc[0].shape[0])


def bench_l2(updates: int) -> dict[str, Any]:
    """Book updates/second: non-candle lane end to end vs a Python loop vs NumPy, same stream."""
    from quantops_trading.backtest import BacktestConfig, backtest_policy, fingerprint_data, run_non_candle
    from quantops_trading.strategies.momentum import Momentum, MomentumParams

    events = _tiled_book(updates)
    n = events.height
    cfg = BacktestConfig(instrument="BTC/USDT@binance", expected_edge_bps=50.0)
    policy = backtest_policy(cfg).model_copy(update={"max_consecutive_losses": 10_000, "max_drawdown": 0.9})
    params = MomentumParams(fast=5, slow=20, threshold=0.00002)
    out: dict[str, Any] = {"updates": n, "strategy": "Momentum(fast=5, slow=20) on mid bars"}
    t = time.perf_counter()
    fp = fingerprint_data(events)
    out["data_fingerprint_s"] = round(time.perf_counter() - t, 4)

    def best(fn: Callable[[], Any]) -> tuple[float, Any]:
        walls, value = [], None
        for _ in range(3):
            t = time.perf_counter()
            value = fn()
            walls.append(time.perf_counter() - t)
        return min(walls), value

    for bar_ms in (1_000, 60_000):
        row: dict[str, Any] = {}
        kw: dict[str, Any] = {"bar_ms": bar_ms, "policy": policy, "data_fingerprint": fp}
        wall, res = best(lambda kw=kw: run_non_candle(Momentum(params), events, cfg, **kw))
        row["non_candle_lane"] = {
            "wall_s": round(wall, 4), "updates_per_s": round(n / wall), "orders": len(res.orders),
            "denied": res.denied, "bars": int(res.equity.shape[0]),
        }  # fmt: skip
        wall, nbars = best(lambda b=bar_ms: _python_loop(events, b, params))
        row["python_loop"] = {"wall_s": round(wall, 4), "updates_per_s": round(n / wall), "bars": nbars}
        wall, nbars = best(lambda b=bar_ms: _numpy_reference(events, b))
        row["numpy_reference"] = {"wall_s": round(wall, 4), "updates_per_s": round(n / wall), "bars": nbars}
        out[f"bar_ms_{bar_ms}"] = row
    t = time.perf_counter()
    run_non_candle(Momentum(params), events, cfg, bar_ms=1_000, policy=policy)
    out["non_candle_lane_1s_with_fingerprint_updates_per_s"] = round(n / (time.perf_counter() - t))
    out["target_updates_per_s"] = 500_000
    out["target_met_1s_bars"] = out["bar_ms_1000"]["non_candle_lane"]["updates_per_s"] >= 500_000
    out["target_met_60s_bars"] = out["bar_ms_60000"]["non_candle_lane"]["updates_per_s"] >= 500_000
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k/1M bars, 4 pairs, 200k L2 updates")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--updates", type=int, default=None, help="L2 updates to replay")
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds of lane vs reference")
    parser.add_argument(
        "--reference-only", action="store_true", help="only the in-process lane vs NumPy reference at 1M bars"
    )
    args = parser.parse_args(argv)
    if args.worker:
        result = _worker(json.loads(args.worker))
        print(json.dumps(result))
        return result
    in_process = _spawn({"engine": "lane_vs_reference", "bars": 1_000_000, "rounds": args.rounds})
    ratio_targets = {
        f"lane_{kind}_within_1.5x_numpy_reference_at_1M_{w}": 0 < in_process.get(w, {}).get(key, 99) <= 1.5
        for w in WORKLOADS
        for kind, key in (
            ("given", "lane_given_over_reference"),
            ("end_to_end", "lane_end_to_end_over_reference"),
        )
    }
    if args.reference_only:
        result = {"benchmark": "backtest", "lane_vs_numpy_reference": in_process, "targets": ratio_targets}
        print(json.dumps(result))
        return result
    sizes = [100_000, 1_000_000] if args.quick else [100_000, 1_000_000, 5_000_000]
    pairs = 4 if args.quick else 20
    engines = ["candle_lane", "candle_lane_no_fingerprint", "vectorbt", "numpy_reference", "backtesting_py"]
    runs: list[dict[str, Any]] = []
    for n in sizes:
        for engine in engines:
            if engine == "backtesting_py" and n > 1_000_000:
                continue
            repeats = 1 if engine == "backtesting_py" and n >= 1_000_000 else 5
            runs.append(_spawn({"engine": engine, "bars": n, "repeats": repeats}))
    for engine in engines[:-1]:
        runs.append(_spawn({"engine": engine, "bars": 250_000, "pairs": pairs}))
    by = {(r["engine"], r["bars"], r.get("pairs", 1)): r for r in runs}
    summary: dict[str, Any] = {}
    for n in sizes:
        lane, vbt, ref = (by.get((e, n, 1), {}) for e in ("candle_lane", "vectorbt", "numpy_reference"))
        if "wall_s" in lane and "wall_s" in vbt and "wall_s" in ref:
            summary[str(n)] = {
                "lane_vs_vectorbt_speedup": round(vbt["wall_s"] / lane["wall_s"], 2),
                "lane_over_numpy_reference": round(lane["wall_s"] / ref["wall_s"], 2),
                "final_equity_rel_diff_lane_vs_vectorbt": abs(lane["final_equity"] / vbt["final_equity"] - 1),
                "final_equity_rel_diff_lane_vs_numpy": abs(lane["final_equity"] / ref["final_equity"] - 1),
            }
    lane, vbt, ref = (by.get((e, 250_000, pairs), {}) for e in ("candle_lane", "vectorbt", "numpy_reference"))
    if "wall_s" in lane and "wall_s" in vbt and "wall_s" in ref:
        summary[f"{pairs}x250000"] = {
            "lane_vs_vectorbt_speedup": round(vbt["wall_s"] / lane["wall_s"], 2),
            "lane_over_numpy_reference": round(lane["wall_s"] / ref["wall_s"], 2),
            "lane_peak_rss_mb": lane["peak_rss_mb"],
            "vectorbt_peak_rss_mb": vbt["peak_rss_mb"],
        }
    one_m = summary.get("1000000", {})
    result = {
        "benchmark": "backtest",
        "quick": args.quick,
        "workload": f"SMA({FAST})/SMA({SLOW}) crossover, fee {FEE}, slippage {SLIP_BPS} bps, 1m random walk",
        "notes": [
            "backtesting.py only at 100k and 1M bars (Python event loop, slow); it runs with zero slippage",
            "vectorbt timed after a 1k-bar warm-up; warmup_compile_s is numba compilation",
            "candle_lane includes input checks, signals, orders and sha256 fingerprints of strategy and data;"
            " candle_lane_no_fingerprint is given precomputed fingerprints",
            "numpy_reference is plain NumPy (no quantops code: no checks, no fingerprints); vectorbt and"
            " backtesting.py get plain-NumPy signals; lane_vs_numpy_reference times lane and reference"
            " in one process, interleaved, after checking they computed the same backtest",
        ],
        "lane_vs_numpy_reference": in_process,
        "runs": runs,
        "summary": summary,
        "targets": {
            "lane_faster_than_vectorbt_at_1M": one_m.get("lane_vs_vectorbt_speedup", 0) > 1.0,
            **ratio_targets,
        },
        "l2": bench_l2(args.updates or (200_000 if args.quick else 1_000_000)),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
