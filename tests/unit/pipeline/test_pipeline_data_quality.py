"""The pipeline's data-quality stage on a real candle file with defects put in (roadmap 81–83, 88, 90).

A real NEO/BTC 5m file from the shared data gets a malformed price, an exact duplicate, a
conflicting revision of a bar, a one-bar spike that comes straight back, a 3-bar hole and a 20-bar
hole. One pipeline cycle with the real candle lane must backtest only the cleaned bars, say in its
evidence what each step did, keep every refused row with its reason in the quarantine store and the
event log, and never invent prices over the long hole.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import polars as pl
from pipeline_support import MOMENTUM

from quantops_api import StrategySpec
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.backtest import fingerprint_data
from quantops_trading.data.loaders import data_file
from quantops_trading.data.quarantine import QuarantineStore
from quantops_trading.pipeline.backtest_evaluator import CandleEvaluator
from quantops_trading.pipeline.cycle import Pipeline
from quantops_trading.pipeline.data import CandleFiles
from quantops_trading.pipeline.flags import RunFlags
from quantops_trading.pipeline.store import MemoryStore
from quantops_trading.storage.eventlog import EventLog

SOURCE = "candles/bittrex_NEO-BTC_5m_2017-09-05_2017-09-25.csv.gz"
FIVE_MIN = 300_000


def _defective_copy(tmp: Path) -> tuple[Path, dict[str, int]]:
    with gzip.open(data_file(SOURCE), "rt") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0])
    marks: dict[str, int] = {}
    spike = rows[1000]
    marks["spike_ts"] = int(spike["ts_ms"])
    spike["close"] = str(float(spike["close"]) * 1.6)  # one bar, back on the next
    spike["high"] = spike["close"]
    marks["short_hole_ts"] = int(rows[2000]["ts_ms"])
    marks["long_hole_ts"] = int(rows[3000]["ts_ms"])
    kept = [r for i, r in enumerate(rows) if not (2000 <= i < 2003 or 3000 <= i < 3020)]
    kept.insert(500, dict(rows[499]))  # an exact duplicate
    revised = dict(rows[700])
    revised["volume"] = str(float(revised["volume"]) + 1.0)  # a fuller revision of the same bar
    kept.insert(702, revised)
    bad = dict(rows[1500])
    bad["close"] = "12..3"  # not a number
    kept.append(bad)
    out = tmp / "bittrex_NEO-BTC_5m_2017-09-05_2017-09-25.csv.gz"
    buf = io.StringIO()
    w = csv.DictWriter(buf, header)
    w.writeheader()
    w.writerows(kept)
    out.write_bytes(gzip.compress(buf.getvalue().encode()))
    return out, marks


def test_the_cycle_backtests_cleaned_bars_and_records_every_refused_row(tmp_path: Path) -> None:
    path, marks = _defective_copy(tmp_path)
    quarantine = QuarantineStore(tmp_path / "quarantine")
    data = CandleFiles({"NEO/BTC": path}, max_fill_bars=5, quarantine=quarantine)
    spec = StrategySpec.model_validate({
        "entrypoint": MOMENTUM, "params": {"fast": 30, "slow": 120, "threshold": 0.005}, "pairs": ["NEO/BTC"],
        "desiredStage": "WARM",
        "promotion": {"minTrades": 1, "minSharpe": -10, "maxDrawdown": 1.0, "minWarmHours": 0},
    })  # fmt: skip
    store = MemoryStore({"neo": spec}, {"global": RiskPolicySpec.model_validate({"concentrationCap": 1.0})})
    flags = RunFlags(pool_min=0, pool_max=0)
    p = Pipeline(store=store, evaluator=CandleEvaluator(flags), data=data, state_dir=tmp_path, flags=flags,
                 events=EventLog(tmp_path / "pipeline.sqlite"), sleep=lambda s: None)  # fmt: skip
    snap = p.run_full_pipeline()

    quality = snap["data"]["NEO/BTC"]["quality"]
    own = CandleFiles({"NEO/BTC": SOURCE}).quality("NEO/BTC")["quarantined"]  # the source's own defects
    assert own == {"bad_print": 1}
    assert quality["quarantined"] == {"bad_print": 2, "bad_type:close": 1}
    assert quality["duplicates"] == 2 and quality["conflicts"] == 1
    # holes: the spike's bar (1, filled), 3 bars (filled), 20 bars (open) and the source's own 3
    gaps = quality["gaps"]
    assert [marks["long_hole_ts"], marks["long_hole_ts"] + 20 * FIVE_MIN] in gaps["noGoWindows"]
    assert gaps["filledBars"] >= 1 + 3 and gaps["missingBars"] - gaps["filledBars"] >= 20
    assert quality["transforms"] == ["schema_check@1", "dedup@1", "bad_prints@1", "gapfill_non_critical@1"]

    bars = data.bars("NEO/BTC")
    ts = bars["ts_ms"]
    assert ts.is_sorted() and ts.n_unique() == bars.height  # one bar per time
    spike_bar = bars.filter(pl.col("ts_ms") == marks["spike_ts"]).row(0, named=True)
    assert spike_bar["volume"] == 0.0 and spike_bar["open"] == spike_bar["close"]  # flat, not the spike
    assert bars.filter(pl.col("ts_ms") == marks["short_hole_ts"] + FIVE_MIN)["volume"].to_list() == [0.0]
    inside_long = pl.col("ts_ms").is_between(marks["long_hole_ts"], marks["long_hole_ts"] + 19 * FIVE_MIN)
    assert bars.filter(inside_long).is_empty()  # no invented prices over the long hole
    # the backtest ran on exactly these bars
    assert store.statuses["neo"].evidence["dataFingerprint"] == fingerprint_data(bars)
    assert snap["data"]["NEO/BTC"]["bars"] == bars.height == quality["bars"]

    stored = quarantine.read(path.name)
    assert sorted(stored["reason"].to_list()) == ["bad_print", "bad_print", "bad_type:close"]
    spikes = [json.loads(raw)["ts_ms"] for raw in stored.filter(pl.col("reason") == "bad_print")["raw"]]
    assert marks["spike_ts"] in spikes
    assert "12..3" in stored.filter(pl.col("reason") == "bad_type:close")["raw"][0]
    events = [
        e.data() for e in EventLog(tmp_path / "pipeline.sqlite").entries() if e.kind == "DataQuarantined"
    ]
    assert [e["reasons"] for e in events] == [{"bad_print": 2, "bad_type:close": 1}]
    p.run_full_pipeline()  # a second cycle does not report the same rows again
    events = [e for e in EventLog(tmp_path / "pipeline.sqlite").entries() if e.kind == "DataQuarantined"]
    assert len(events) == 1 and quarantine.read(path.name).height == 3


def test_without_the_flags_the_stage_keeps_spikes_and_leaves_holes(tmp_path: Path) -> None:
    path, marks = _defective_copy(tmp_path)
    data = CandleFiles({"NEO/BTC": path}, max_fill_bars=0, drop_bad_prints=False)
    bars = data.bars("NEO/BTC")
    quality = data.quality("NEO/BTC")
    assert quality["quarantined"] == {"bad_type:close": 1} and "bad_prints@1" not in quality["transforms"]
    assert bars.filter(pl.col("ts_ms") == marks["spike_ts"])["volume"][0] > 0  # the spike stays
    assert quality["gaps"]["filledBars"] == 0
    assert bars.filter(pl.col("ts_ms") == marks["short_hole_ts"]).is_empty()
