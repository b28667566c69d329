"""44: every decision is stored with its feature attribution in the hash-chained event log."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from strat_support import ETH_BTC_1M, bars, run

from quantops_trading.model.ids import InstrumentId
from quantops_trading.signals import DecisionRecorder, top_contributors
from quantops_trading.signals.attribution import summarise
from quantops_trading.storage import EventLog
from quantops_trading.strategies import Momentum
from quantops_trading.strategy import Intent, Signal


def test_sig_decisions_round_trip_with_attribution(tmp_path: Path) -> None:
    sigs = [
        o
        for o in run(Momentum(Momentum.Params()), bars(ETH_BTC_1M, "ETH/BTC@bittrex")[:200])
        if isinstance(o, Signal)
    ]
    path = tmp_path / "decisions.db"
    with EventLog(path) as log:
        rec = DecisionRecorder(log)
        for i, s in enumerate(sigs):
            rec.record(
                "btc-momentum",
                s,
                "emitted" if i % 3 else "throttled",
                stage="throttle" if i % 3 == 0 else "strategy",
            )
        intent = Intent(
            instrument_id=InstrumentId("ETH/BTC@bittrex"),
            ts_ms=5,
            confidence=0.5,
            side="sell",
            quantity=Decimal("2"),
            attribution={"edge_bps": 3.0},
        )
        rec.record("spread", intent, "blocked", stage="divergence", reason="quotes diverge")
    with EventLog(path) as reopened:  # verifies the hash chain on open
        back = list(DecisionRecorder(reopened).decisions())
    assert len(back) == len(sigs) + 1
    assert [d.attribution for d in back[:-1]] == [s.attribution for s in sigs]  # exact floats, no rounding
    assert (
        back[0].action == "throttled"
        and back[0].stage == "throttle"
        and back[0].ts_ns == sigs[0].ts_ms * 1_000_000
    )
    assert back[-1].value == -2.0 and back[-1].reason == "quotes diverge" and back[-1].output_kind == "intent"
    assert {k for k, _ in top_contributors(back[0], 2)} == {"ema_fast", "ema_slow"}
    assert summarise(back)["btc-momentum"]["throttled"] == len(range(0, len(sigs), 3))
