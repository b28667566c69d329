"""Pin the public API of model/data/storage/features: a change to __all__ is deliberate."""

from __future__ import annotations

import importlib

import pytest

EXPECTED = {
    "quantops_trading.storage": {
        "GENESIS_HASH",
        "ChainBrokenError",
        "EventLog",
        "EventLogError",
        "LogEntry",
        "LogFormatError",
        "RetentionPolicy",
        "SegmentedEventLog",
        "canonical_json",
        "chain_hash",
        "verify_chain",
    },
    "quantops_trading.features": {
        "BOOK_FEATURE_COLUMNS",
        "FEATURE_COLUMNS",
        "HORIZONS_MS",
        "book_features",
        "candles_from_trades",
        "multi_horizon_features",
        "resample",
        "resample_multi",
        "rolling_features",
    },
}


@pytest.mark.parametrize("name", ["quantops_trading.model", "quantops_trading.data", *EXPECTED])
def test_all_names_exist_and_are_sorted(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=lambda s: (not s.isupper(), s))
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr}"
    if name in EXPECTED:
        assert set(exported) == EXPECTED[name]
