"""40: volatility-targeting size prefilter (capped); 45: throttling on a high recent false-positive rate."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from strat_support import ETH_BTC_1M, bars, run

from quantops_trading.signals import (
    SignalThrottle,
    ThrottleConfig,
    VolTargetConfig,
    is_false_positive,
    vol_target_size,
)
from quantops_trading.strategies import Momentum
from quantops_trading.strategy import Signal

CFG = VolTargetConfig(target_vol=0.2, bars_per_year=525_600, max_leverage=1.0, max_notional=Decimal(5000))
EQ, PX = Decimal(10_000), Decimal(100)


def test_sig_size_scales_inversely_with_vol_and_with_confidence() -> None:
    rv = 0.2 / math.sqrt(525_600)  # 20% annual → full equity at value 1, confidence 0.25 …
    a = vol_target_size(1.0, 0.25, rv * 2, PX, EQ, CFG)
    b = vol_target_size(1.0, 0.25, rv * 4, PX, EQ, CFG)
    c = vol_target_size(-1.0, 0.125, rv * 2, PX, EQ, CFG)
    assert (
        a.passed and a.notional == Decimal(1250) and b.notional == Decimal(625) and c.notional == Decimal(625)
    )
    assert a.quantity == Decimal("12.5") and not a.capped


def test_sig_size_caps_and_filters() -> None:
    tiny_vol = vol_target_size(1.0, 1.0, 1e-7, PX, EQ, CFG)
    assert tiny_vol.passed and tiny_vol.capped and tiny_vol.notional == Decimal(5000)
    lev = vol_target_size(1.0, 1.0, 1e-7, PX, EQ, CFG.model_copy(update={"max_notional": Decimal(10**9)}))
    assert lev.notional == EQ  # max_leverage 1
    assert not vol_target_size(1.0, 1.0, math.nan, PX, EQ, CFG).passed
    assert not vol_target_size(0.0, 1.0, 0.001, PX, EQ, CFG).passed
    dust = vol_target_size(1.0, 0.001, 0.01, PX, EQ, CFG)
    assert not dust.passed and "below minimum" in dust.reason


def _outcomes(signals: list[Signal], closes: dict[int, float], h_ms: int) -> list[tuple[Signal, bool]]:
    out = []
    for s in signals:
        if s.value != 0 and s.ts_ms + h_ms in closes:
            out.append((s, is_false_positive(s.value, closes[s.ts_ms], closes[s.ts_ms + h_ms], cost_bps=10)))
    return out


def test_sig_throttle_engages_on_real_false_positives_and_releases() -> None:
    data = bars(ETH_BTC_1M, "ETH/BTC@bittrex")
    closes = {b.ts_ms: b.close for b in data}
    sigs = [o for o in run(Momentum(Momentum.Params()), data) if isinstance(o, Signal)]
    labelled = _outcomes(sigs, closes, 5 * 60_000)
    fp_rate = sum(fp for _, fp in labelled) / len(labelled)
    assert fp_rate > 0.65  # with 10 bps costs, 5-minute momentum on this file mostly does not pay
    th = SignalThrottle(ThrottleConfig())
    allowed = [th.allow("mom", 0.5).allowed for _ in range(3)]
    assert allowed == [True, True, True]  # too few outcomes: never throttled
    for _, fp in labelled[:40]:
        th.record("mom", fp)
    assert th.fp_rate("mom") is not None and th.fp_rate("mom") > 0.65  # type: ignore[operator]
    weak = th.allow("mom", 0.5)
    assert weak.throttled and not weak.allowed and "confidence too low" in weak.reason
    strong = [th.allow("mom", 0.95).allowed for _ in range(10)]
    assert strong.count(True) == 2  # rate-limited to one in five
    for _ in range(40):
        th.record("mom", False)
    assert th.allow("mom", 0.1).allowed and not th.allow("mom", 0.1).throttled
    assert th.allow("other", 0.1).allowed


def test_sig_throttle_hysteresis_config() -> None:
    with pytest.raises(ValueError, match="releaseFpRate"):
        ThrottleConfig(maxFpRate=0.5, releaseFpRate=0.6)
    assert is_false_positive(1, 100, 100.05, cost_bps=10) and not is_false_positive(-1, 100, 99, cost_bps=10)
