"""41: spoofing-like flicker and depth collapse found in the real Binance L2 books, and only those."""

from __future__ import annotations

import dataclasses

import polars as pl
from strat_support import PERP_BOOK, PERP_ID, SPOT_BOOK, SPOT_ID, book_frame, books

from quantops_trading.features import book_features
from quantops_trading.signals import Anomaly, AnomalyConfig, BookAnomalyDetector
from quantops_trading.strategy import BookSnapshot


def _run(
    snaps: list[BookSnapshot] | tuple[BookSnapshot, ...], cfg: AnomalyConfig | None = None
) -> list[Anomaly]:
    det = BookAnomalyDetector(cfg or AnomalyConfig())
    return [a for b in snaps for a in det.update(b)]


def test_sig_shocks_match_the_book_feature_definition() -> None:
    for path, inst in ((SPOT_BOOK, SPOT_ID), (PERP_BOOK, PERP_ID)):
        got = [a.ts_ms for a in _run(books(path, inst)) if a.kind == "liquidity_shock"]
        feats = book_features(book_frame(path)).collect()
        onsets = feats.filter(pl.col("liq_shock") & ~pl.col("liq_shock").shift(1).fill_null(False))[
            "ts_ms"
        ].to_list()
        assert got and got == onsets


def test_sig_spoofs_in_real_books_are_large_near_touch_and_short_lived() -> None:
    snaps = books(PERP_BOOK, PERP_ID)
    spoofs = [a for a in _run(snaps) if a.kind == "spoof"]
    assert 10 < len(spoofs) < len(snaps) / 5
    for a in spoofs:
        assert (
            a.lifetime_ms is not None
            and 0 < a.lifetime_ms <= 3_000
            and a.quantity is not None
            and a.quantity > 1.0
        )


def _inject(snaps: list[BookSnapshot], at: int, n: int, qty: float) -> list[BookSnapshot]:
    """A ``qty`` bid at one fixed price just under the lowest best bid of snapshots [at, at+n)."""
    out = list(snaps)
    px = min(b.bids[0][0] for b in snaps[at : at + n]) - 0.001
    for i in range(at, at + n):
        b = out[i]
        levels = sorted([*b.bids[:-1], (px, qty)], key=lambda lv: -lv[0])
        out[i] = dataclasses.replace(b, bids=tuple(levels))
    return out


def test_sig_injected_spoof_is_detected_at_the_right_time() -> None:
    snaps = list(books(SPOT_BOOK, SPOT_ID))[:1500]
    base = {(a.ts_ms, a.price) for a in _run(snaps) if a.kind == "spoof"}
    spoofed = _inject(snaps, 1000, 5, 40.0)
    new = [a for a in _run(spoofed) if a.kind == "spoof" and (a.ts_ms, a.price) not in base]
    assert [(a.ts_ms, a.quantity, a.side) for a in new] == [(snaps[1005].ts_ms, 40.0, "bid")]
    assert new[0].lifetime_ms == snaps[1005].ts_ms - snaps[1000].ts_ms  # first seen → seen gone


def test_sig_resting_or_traded_large_orders_are_not_spoofs() -> None:
    snaps = list(books(SPOT_BOOK, SPOT_ID))[:1500]
    base = {(a.ts_ms, a.price) for a in _run(snaps) if a.kind == "spoof"}
    resting = _inject(snaps, 1000, 60, 40.0)  # ~6 s > max lifetime
    assert not [a for a in _run(resting) if a.kind == "spoof" and a.quantity == 40.0]
    assert base
    traded = _inject(snaps, 1000, 5, 40.0)
    b = traded[1005]
    traded[1005] = dataclasses.replace(
        b, bids=tuple((p - 50.0, q) for p, q in b.bids)
    )  # price fell through it
    assert not [a for a in _run(traded) if a.kind == "spoof" and a.quantity == 40.0]
