"""38: max-confidence arbitration with logged losers; 42: regime-weighted momentum/mean-reversion ensemble."""

from __future__ import annotations

import logging

import pytest
from strat_support import ETH_BTC_1M, bars, run

from quantops_trading.model.ids import InstrumentId
from quantops_trading.signals import DEFAULT_WEIGHTS, Candidate, ensemble, resolve
from quantops_trading.strategies import MeanReversion, Momentum
from quantops_trading.strategy import Signal

BTC = "BTC/USDT@binance"


def sig(value: float, conf: float, inst: str = BTC) -> Signal:
    return Signal(instrument_id=InstrumentId(inst), ts_ms=1, value=value, confidence=conf)


def test_sig_conflict_highest_confidence_wins_and_losers_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="quantops_trading.signals.arbitration")
    res = resolve(
        [
            Candidate("mom", sig(1, 0.6)),
            Candidate("mr", sig(-1, 0.8)),
            Candidate("x", sig(1, 0.3, "ETH/BTC@bittrex")),
        ]
    )
    btc = res[BTC]
    assert btc.conflict and btc.winner is not None and btc.winner.source == "mr"
    assert [(c.source, why.split(":")[0]) for c, why in btc.losers] == [("mom", "opposed")]
    assert "mom lost" in caplog.text
    assert res["ETH/BTC@bittrex"].winner is not None and not res["ETH/BTC@bittrex"].conflict


def test_sig_conflict_weight_tie_and_minimum() -> None:
    weighted = resolve([Candidate("mom", sig(1, 0.6), weight=2.0), Candidate("mr", sig(-1, 0.8))])[BTC]
    assert weighted.winner is not None and weighted.winner.source == "mom"
    tie = resolve([Candidate("a", sig(1, 0.5)), Candidate("b", sig(-1, 0.5))])[BTC]
    assert tie.winner is None and len(tie.losers) == 2
    weak = resolve([Candidate("a", sig(1, 0.1))], min_confidence=0.2)[BTC]
    assert weak.winner is None and "minimum" in weak.losers[0][1]


def test_sig_ensemble_follows_regime_weights() -> None:
    members = {"momentum": sig(1, 0.8), "mean_reversion": sig(-1, 0.8)}
    trend = ensemble(members, DEFAULT_WEIGHTS.for_regime("trend"))
    rng = ensemble(members, DEFAULT_WEIGHTS.for_regime("range"))
    assert trend is not None and rng is not None
    assert trend.value > 0 > rng.value
    assert trend.attribution["contrib_momentum"] == pytest.approx(0.8) and 0 < trend.confidence < 1
    agree = ensemble(
        {"momentum": sig(1, 0.8), "mean_reversion": sig(1, 0.4)}, {"momentum": 1, "mean_reversion": 1}
    )
    assert agree is not None and agree.confidence == 1.0 and agree.value == pytest.approx(0.6)
    assert ensemble(members, {}) is None


def test_sig_ensemble_on_real_strategy_outputs() -> None:
    data = bars(ETH_BTC_1M, "ETH/BTC@bittrex")[:3000]
    mom = {o.ts_ms: o for o in run(Momentum(Momentum.Params()), data) if isinstance(o, Signal)}
    mr = {o.ts_ms: o for o in run(MeanReversion(MeanReversion.Params()), data) if isinstance(o, Signal)}
    both = sorted(set(mom) & set(mr))
    blended = [
        ensemble({"momentum": mom[t], "mean_reversion": mr[t]}, DEFAULT_WEIGHTS.for_regime("range"))
        for t in both
    ]
    assert len(blended) > 2500 and all(b is not None and -1 <= b.value <= 1 for b in blended)
    disagree = [b for t, b in zip(both, blended, strict=True) if mom[t].value * mr[t].value < 0]
    assert disagree and all(b is not None and b.confidence < 1 for b in disagree)
