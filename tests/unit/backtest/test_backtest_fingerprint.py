"""Roadmap 30: strategy and data fingerprints are stable, and change exactly when the inputs do."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from bt_support import ETH_BTC_5M, candles

from quantops_trading.backtest import fingerprint_data, fingerprint_strategy
from quantops_trading.backtest.fingerprint import start_fingerprint_data
from quantops_trading.data import load_feed
from quantops_trading.strategies.momentum import MomentumParams

MOMENTUM = "quantops_trading.strategies.momentum:Momentum"


def test_strategy_fingerprint_is_stable_and_ignores_key_order() -> None:
    a = fingerprint_strategy(MOMENTUM, {"fast": 12, "slow": 48})
    assert a == fingerprint_strategy(MOMENTUM, {"slow": 48, "fast": 12})
    assert len(a) == 64 and int(a, 16) >= 0
    assert a != fingerprint_strategy(MOMENTUM, {"fast": 12, "slow": 49})
    other = "quantops_trading.strategies.mean_reversion:MeanReversion"
    assert a != fingerprint_strategy(other, {"fast": 12, "slow": 48})


def test_strategy_params_objects_hash_as_their_wire_form() -> None:
    p = MomentumParams(fast=5, slow=20, threshold=0.001)
    wire = p.model_dump(mode="json", by_alias=True)
    assert fingerprint_strategy(MOMENTUM, p) == fingerprint_strategy(MOMENTUM, wire)
    other = MomentumParams(fast=5, slow=21)
    assert fingerprint_strategy(MOMENTUM, p) != fingerprint_strategy(MOMENTUM, other)


def test_a_code_change_changes_the_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = tmp_path / "fp_probe_strategy.py"
    mod.write_text("class S:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = fingerprint_strategy("fp_probe_strategy:S", {"x": 1})
    assert before == fingerprint_strategy("fp_probe_strategy:S", {"x": 1})
    mod.write_text("class S:\n    pass  # edited\n")
    sys.modules.pop("fp_probe_strategy", None)
    assert fingerprint_strategy("fp_probe_strategy:S", {"x": 1}) != before


@pytest.mark.parametrize(
    ("entrypoint", "params", "needle"),
    [
        ("no_colon_here", {}, "expected 'package.module:ClassName'"),
        ("quantops_trading.nope_missing:X", {}, "not found"),
        (MOMENTUM, {"x": float("nan")}, "not canonical JSON"),
        (MOMENTUM, {"x": object()}, "not canonical JSON"),
    ],
)
def test_bad_fingerprint_inputs_are_named(entrypoint: str, params: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        fingerprint_strategy(entrypoint, params)


def test_data_fingerprint_ignores_lineage_and_sees_every_value() -> None:
    a = load_feed(ETH_BTC_5M, "candles", ingest_ts_ns=1).frame
    b = load_feed(ETH_BTC_5M, "candles", ingest_ts_ns=2).frame
    assert a.get_column("lineage_ingest_ts_ns")[0] != b.get_column("lineage_ingest_ts_ns")[0]
    fp = fingerprint_data(a)
    assert fp == fingerprint_data(b) == fingerprint_data(candles(ETH_BTC_5M).clone())
    row = pl.int_range(pl.len()) == 4000
    bumped = pl.when(row).then(pl.col("close") + 1e-8).otherwise(pl.col("close"))
    one_tick = a.with_columns(bumped.alias("close"))
    assert fingerprint_data(one_tick) != fp
    assert fingerprint_data(a.rename({"volume": "vol"})) != fp
    assert fingerprint_data(a.with_columns(pl.col("ts_ms").cast(pl.Float64))) != fp
    assert fingerprint_data(a.head(a.height - 1)) != fp
    assert fingerprint_data(a.with_columns(pl.col("pair").str.replace("ETH", "ETC"))) != fp
    with pytest.raises(TypeError, match="polars DataFrame"):
        fingerprint_data(a.to_pandas())  # type: ignore[arg-type]


def _by_the_spec(frame: pl.DataFrame) -> str:
    """The documented data fingerprint written out plainly (what stored evidence was keyed on)."""
    h = hashlib.sha256(f"quantops-fp/1\x00rows={frame.height}\x00".encode())
    for name in frame.columns:
        if name.startswith("lineage_"):
            continue
        s = frame.get_column(name)
        h.update(f"{name}\x00{s.dtype}\x00".encode())
        if s.dtype.is_numeric() or s.dtype == pl.Boolean:
            kind = "<f8" if s.dtype.is_float() else "<i8"
            body = s.fill_null(0).to_numpy().astype(kind).tobytes()
            if s.null_count():
                body += b"\x00nulls\x00" + s.is_null().to_numpy().astype(np.uint8).tobytes()
        else:
            body = b"".join(
                b"\x01" if v is None else v.encode() + b"\x00" for v in s.cast(pl.String).to_list()
            )
        h.update(hashlib.sha256(body).digest())
    return h.hexdigest()


def test_large_frames_hash_columns_concurrently_to_the_same_fingerprint() -> None:
    n = 300_000  # several MB: the columns are hashed on the worker threads
    rng = np.random.default_rng(5)
    ints = pl.Series("qty", rng.integers(0, 100, n)).set(pl.Series(rng.random(n) < 0.01), None)
    frame = pl.DataFrame(
        {"ts_ms": np.arange(n, dtype=np.int64), "px": rng.random(n), "flag": rng.random(n) < 0.5,
         "pair": ["ETH/BTC"] * n, "lineage_ingest_ts_ns": np.arange(n)},
    ).with_columns(ints)  # fmt: skip
    fp = fingerprint_data(frame)
    assert fp == _by_the_spec(frame) == start_fingerprint_data(frame)()
    small = frame.head(100)
    assert fingerprint_data(small) == _by_the_spec(small)  # hashed inline
    deep = pl.int_range(pl.len()) == n - 3
    assert (
        fingerprint_data(frame.with_columns(pl.when(deep).then(0.5).otherwise(pl.col("px")).alias("px")))
        != fp
    )
    assert fingerprint_data(frame.with_columns(pl.col("px").shuffle(seed=1))) != fp
