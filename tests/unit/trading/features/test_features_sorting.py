"""The sorted-input fast path never changes results: any row order gives the same features."""

from __future__ import annotations

import numpy as np
import polars as pl

from quantops_trading.features.bars import sorted_by_pair_time
from quantops_trading.features.rolling import multi_horizon_features


def _bars(pairs: int = 3, n: int = 400) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    frames = []
    for p in range(pairs):
        close = 50.0 * (p + 1) * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
        frames.append(
            pl.DataFrame(
                {
                    "pair": [f"P{p}/USDT@sim"] * n,
                    "ts_ms": 1_700_000_040_000 + 60_000 * np.arange(n),
                    "open": close,
                    "high": close * 1.001,
                    "low": close * 0.999,
                    "close": close,
                    "volume": rng.gamma(2.0, 1.0, n),
                }
            )
        )
    return pl.concat(frames)


def test_shuffled_and_pair_reordered_inputs_give_identical_features() -> None:
    ordered = _bars()
    assert sorted_by_pair_time(ordered)
    shuffled = ordered.sample(fraction=1.0, shuffle=True, seed=11)
    reversed_pairs = ordered.sort("pair", descending=True, maintain_order=True)
    assert not sorted_by_pair_time(shuffled)
    assert not sorted_by_pair_time(reversed_pairs)  # contiguous runs, but pairs out of order
    expected = multi_horizon_features(ordered)
    for variant in (shuffled, reversed_pairs):
        assert multi_horizon_features(variant).equals(expected)


def test_duplicate_timestamps_are_not_taken_as_sorted() -> None:
    df = _bars(1, 5)
    dup = pl.concat([df.head(3), df.slice(2, 3)])
    assert not sorted_by_pair_time(dup)
