"""48: slippage models per venue from fills on the real books — fit, store, use, and a drift alarm."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from strat_support import PERP_BOOK, PERP_ID, SPOT_BOOK, SPOT_ID, books

from quantops_trading.signals import DriftMonitor, ObservedFill, SlippageStore, fit_slippage, walk_book


def _fills(path: str, inst: str, venue: str, seed: int) -> list[ObservedFill]:
    rng = np.random.default_rng(seed)
    out = []
    for b in books(path, inst)[::5]:
        f = walk_book(b, bool(rng.integers(2)), float(rng.uniform(0.01, 4.0)), venue)
        if f is not None:
            out.append(f)
    return out


def test_sig_slippage_fit_predicts_held_back_fills() -> None:
    fills = _fills(SPOT_BOOK, SPOT_ID, "binance", 1)
    half = len(fills) // 2
    model = fit_slippage(fills[:half])
    assert model.venue == "binance" and model.b_bps > 0 and model.n == half
    test = fills[half:]
    err = np.array([f.slippage_bps - model.predict(f.quantity, f.depth) for f in test])
    naive = np.array([f.slippage_bps - np.mean([g.slippage_bps for g in fills[:half]]) for f in test])
    assert np.abs(err).mean() < 0.8 * np.abs(naive).mean()
    assert model.predict(4.0, 10.0) > model.predict(0.01, 10.0) >= 0


def test_sig_slippage_is_venue_specific_and_stored(tmp_path: Path) -> None:
    spot = fit_slippage(_fills(SPOT_BOOK, SPOT_ID, "binance", 2))
    perp = fit_slippage(_fills(PERP_BOOK, PERP_ID, "binance-usdm", 3))
    assert (spot.a_bps, spot.b_bps) != (perp.a_bps, perp.b_bps)
    store = SlippageStore(tmp_path)
    store.save(spot)
    store.save(perp)
    assert (
        store.load("binance") == spot and store.load("binance-usdm") == perp and store.load("kraken") is None
    )


def test_sig_slippage_drift_alarm() -> None:
    fills = _fills(SPOT_BOOK, SPOT_ID, "binance", 4)
    half = len(fills) // 2
    model = fit_slippage(fills[:half])
    calm = DriftMonitor(model)
    assert not any(calm.update(f) for f in fills[half:])
    worse = DriftMonitor(model)
    shifted = [
        dataclasses.replace(f, fill_price=f.fill_price * (1 + (3e-4 if f.buy else -3e-4)))
        for f in fills[half:]
    ]
    flags = [worse.update(f) for f in shifted]
    assert any(flags) and flags.index(True) < 20  # +3 bps of extra cost is caught quickly
