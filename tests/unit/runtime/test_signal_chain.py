"""The trader's signal chain alone: which outputs of one tick on one pair act (38, 45).

The kernel tests (tests/local/test_trader_kernel.py test_38/test_45) prove the running trader
applies it; these pin the rules at their edges.
"""

from __future__ import annotations

from decimal import Decimal

from quantops_api.v1alpha1.roleconfig import TraderSignals
from quantops_trading.model.ids import InstrumentId
from quantops_trading.runtime.signal_chain import SignalChain
from quantops_trading.strategy.base import Intent, Output, Signal

PAIR = "BTC/USDT"
INST = InstrumentId(f"{PAIR}@sim")


def sig(value: float, confidence: float) -> Signal:
    return Signal(instrument_id=INST, ts_ms=1, value=value, confidence=confidence)


def verdicts(chain: SignalChain, *outputs: tuple[str, Output]) -> list[str | None]:
    return [j.refused for j in chain.judge(PAIR, 100.0, list(outputs))]


def chain(**cfg: object) -> SignalChain:
    return SignalChain(TraderSignals.model_validate(cfg), clock=lambda: 0.0)


def test_the_less_confident_of_two_opposing_entries_loses_and_says_to_whom() -> None:
    c = chain()
    judged = c.judge(PAIR, 100.0, [("a", sig(1, 0.6)), ("b", sig(-1, 0.7))])
    assert [j.refused for j in judged] == ["lost_arbitration", None]
    assert "opposed by b" in judged[0].reason


def test_a_tie_between_opposing_entries_stays_out_and_agreeing_ones_both_act() -> None:
    assert verdicts(chain(), ("a", sig(1, 0.5)), ("b", sig(-1, 0.5))) == ["lost_arbitration"] * 2
    assert verdicts(chain(), ("a", sig(1, 0.5)), ("b", sig(1, 0.9))) == [None, None]


def test_going_flat_and_intents_never_wait_on_another_strategy() -> None:
    intent = Intent(instrument_id=INST, ts_ms=1, confidence=0.1, side="sell", quantity=Decimal(1), price=None)
    out = verdicts(chain(), ("a", sig(0, 0.1)), ("b", sig(1, 0.9)), ("c", intent), ("d", sig(-1, 0.2)))
    assert out == [None, None, None, "lost_arbitration"]


def test_a_hold_that_loses_is_held_back_too_a_top_up_would_oppose_the_winner() -> None:
    c = chain()
    assert verdicts(c, ("a", sig(1, 0.4))) == [None]  # a enters long
    assert verdicts(c, ("a", sig(1, 0.4)), ("b", sig(-1, 0.9))) == ["lost_arbitration", None]


def test_arbitration_off_lets_both_act_and_the_floor_refuses_weak_entries_only() -> None:
    assert verdicts(chain(arbitration=False), ("a", sig(1, 0.5)), ("b", sig(-1, 0.6))) == [None, None]
    c = chain(minConfidence=0.5)
    assert verdicts(c, ("a", sig(1, 0.4))) == ["lost_arbitration"]
    assert verdicts(c, ("a", sig(0, 0.1))) == [None]


def test_the_throttle_judges_entries_after_their_horizon_only() -> None:
    now = [0.0]
    cfg = {"throttle": {"horizonSeconds": 10, "costBps": 0, "window": 5, "minSamples": 5}}
    c = SignalChain(TraderSignals.model_validate(cfg), clock=lambda: now[0])
    for n in range(5):  # five entries, each followed by a move against it: false positives
        assert verdicts(c, ("a", sig(1 if n % 2 == 0 else -1, 0.5))) == [None]
        c.observe(PAIR, 100.0)  # before the horizon: nothing judged
        now[0] += 10
        c.observe(PAIR, 99.0 if n % 2 == 0 else 101.0)
    assert c.throttle is not None and c.throttle.fp_rate("a") == 1.0
    assert verdicts(c, ("a", sig(1, 0.5))) == [None]  # still long since the last entry: a hold
    assert verdicts(c, ("a", sig(-1, 0.5))) == ["throttled"]  # a new entry
    assert verdicts(c, ("a", sig(0, 0.5))) == [None]  # flat passes
