"""50: no new entries while Binance spot and USD-M perpetual quotes diverge abnormally; exits stay allowed."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np
import pytest
from strat_support import PERP_BOOK, PERP_ID, SPOT_BOOK, SPOT_ID, book_frame, merged_books

from quantops_trading.model.ids import InstrumentId
from quantops_trading.signals import DivergencePolicy, DivergenceState, divergence_frame
from quantops_trading.strategy import BookSnapshot, Intent


def _states(snaps: list[BookSnapshot]) -> list[DivergenceState]:
    pol = DivergencePolicy(SPOT_ID, PERP_ID)
    return [pol.on_quote(b.instrument_id, b.ts_ms, b.mid) for b in snaps]


def _intent(reduce_only: bool) -> Intent:
    return Intent(
        instrument_id=InstrumentId(SPOT_ID),
        ts_ms=1,
        confidence=0.9,
        side="buy",
        quantity=Decimal("0.01"),
        reduce_only=reduce_only,
    )


def test_sig_real_spot_perp_divergence_is_mostly_normal() -> None:
    frame = divergence_frame(book_frame(SPOT_BOOK), book_frame(PERP_BOOK))
    median = float(np.median(frame["divergence_bps"].to_numpy()))
    assert 2.5 < median < 5  # the real spot premium over the perp that day
    overlap = [s for s in _states(merged_books()) if s.divergence_bps is not None]
    extreme = [s for s in overlap if s.extreme]
    assert len(overlap) > 9000 and len(extreme) < 0.01 * len(overlap)


def test_sig_divergence_blocks_entries_not_exits_and_recovers() -> None:
    snaps = [b for b in merged_books() if b.ts_ms < 1723161600000]
    k = 5000
    shocked = list(snaps)
    for i in range(k, k + 20):  # perp quotes 60 bps away for 20 updates
        if shocked[i].instrument_id == PERP_ID:
            b = shocked[i]
            shocked[i] = dataclasses.replace(
                b,
                bids=tuple((p * 0.994, q) for p, q in b.bids),
                asks=tuple((p * 0.994, q) for p, q in b.asks),
            )
    pol = DivergencePolicy(SPOT_ID, PERP_ID)
    states = [pol.on_quote(b.instrument_id, b.ts_ms, b.mid) for b in shocked[: k + 10]]
    assert states[-1].extreme and "divergence" in states[-1].reason
    assert not pol.allows(_intent(False)) and pol.allows(_intent(True))
    for b in shocked[k + 10 : k + 200]:
        pol.on_quote(b.instrument_id, b.ts_ms, b.mid)
    assert not pol.state.extreme and pol.allows(_intent(False))


@pytest.mark.parametrize("frac", [0.3, 0.7])
def test_sig_divergence_truncation(frac: float) -> None:
    snaps = merged_books()
    cut = snaps[int(len(snaps) * frac)].ts_ms
    full = [s for s in _states(snaps) if s.ts_ms <= cut]
    assert full == _states([b for b in snaps if b.ts_ms <= cut])


def test_sig_divergence_stale_or_missing_quotes_block() -> None:
    pol = DivergencePolicy(SPOT_ID, PERP_ID)
    assert pol.on_quote(SPOT_ID, 0, 100.0).extreme and not pol.allows(_intent(False))
    pol.on_quote(PERP_ID, 5_000, 100.0)
    assert "stale" in pol.state.reason
