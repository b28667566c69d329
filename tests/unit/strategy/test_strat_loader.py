"""The loader turns every kind of broken strategy into a condition-ready value, never a crash."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quantops_trading.model.ids import InstrumentId
from quantops_trading.strategy import (
    INTERFACE_VERSION,
    Bar,
    Intent,
    LoadedStrategy,
    Signal,
    StrategyContext,
    StrategyFailure,
    load_strategy,
)

CTX = StrategyContext("broken", ("BTC/USDT",))


@pytest.fixture(autouse=True)
def _broken_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parent))


def _bar(i: int) -> Bar:
    return Bar("BTC/USDT@binance", 60_000 * (i + 1), 1.0, 1.0, 1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("entrypoint", "params", "reason", "text"),
    [
        ("broken_strats.import_error:Broken", {}, "StrategyNotFound", "quantops_no_such_dependency"),
        ("broken_strats.no_such_module:X", {}, "StrategyNotFound", "no_such_module"),
        ("broken_strats.bad_params:Missing", {}, "StrategyNotFound", "no attribute 'Missing'"),
        ("not an entrypoint", {}, "StrategyNotFound", "package.module:Class"),
        ("broken_strats.bad_params:Strict", {"lookback": 1}, "InvalidParams", "params.lookback"),
        ("broken_strats.bad_params:Strict", {"lookback": 5, "typo": 1}, "InvalidParams", "params.typo"),
        ("broken_strats.bad_params:NotAStrategy", {}, "NotAStrategy", "not a quantops Strategy"),
        (
            "broken_strats.bad_params:OldInterface",
            {"lookback": 5},
            "InterfaceMismatch",
            f"v{INTERFACE_VERSION}",
        ),
        ("broken_strats.raising:RaisesOnStart", {}, "CallbackFailed", "cannot start"),
    ],
)
def test_strat_load_failures_are_values(
    entrypoint: str, params: dict[str, object], reason: str, text: str
) -> None:
    result = load_strategy(entrypoint, params, context=CTX)
    assert isinstance(result, StrategyFailure), result
    assert result.reason == reason
    assert text in result.message
    cond = result.condition()
    assert (cond.type, cond.status, cond.reason) == ("Ready", "False", reason)


def test_strat_raising_callback_is_contained_and_stops_the_strategy() -> None:
    loaded = load_strategy("broken_strats.raising:RaisesOnThirdBar", {}, context=CTX)
    assert isinstance(loaded, LoadedStrategy) and loaded.ok
    outputs = [loaded.bar(_bar(i)) for i in range(6)]
    assert outputs == [[]] * 6
    assert loaded.failure is not None and loaded.failure.reason == "CallbackFailed"
    assert loaded.failure.callback == "on_bar" and "ZeroDivisionError" in loaded.failure.message
    assert loaded.calls["on_bar"] == 3  # never called again after the failure
    loaded.stop()
    assert "on_stop" not in loaded.calls


def test_strat_junk_output_is_a_callback_failure() -> None:
    loaded = load_strategy("broken_strats.raising:ReturnsJunk", {})
    assert isinstance(loaded, LoadedStrategy)
    assert loaded.bar(_bar(0)) == []
    assert loaded.failure is not None and "expected list[Signal | Intent]" in loaded.failure.message


def test_strat_good_strategy_passes_outputs_through() -> None:
    loaded = load_strategy(
        "quantops_trading.strategies.momentum:Momentum", {"fast": 2, "slow": 3, "threshold": 0.0}, context=CTX
    )
    assert isinstance(loaded, LoadedStrategy)
    out = [o for i in range(5) for o in loaded.bar(Bar("BTC/USDT@binance", 60_000 * i, 1, 1, 1, 1.0 + i, 1))]
    assert loaded.ok and out and all(isinstance(o, Signal) and o.value == 1.0 for o in out)


def test_strat_intent_goes_to_the_risk_gateway_as_an_order_request() -> None:
    intent = Intent(
        instrument_id=InstrumentId("BTC/USDT@binance"),
        ts_ms=1,
        confidence=0.7,
        side="buy",
        quantity=Decimal("0.01"),
        price=Decimal("60000"),
        post_only=True,
    )
    req = intent.to_order_request("btc-mm", "q-1", Decimal("60001"), regime="range")
    assert req.intent.symbol == "BTC/USDT" and req.intent.time_in_force == "GTX"
    assert req.notional == Decimal("600.00") and req.regime == "range" and req.intent.confidence == 0.7
    sig = Signal(
        instrument_id=InstrumentId("BTC/USDT@binance"),
        ts_ms=5,
        confidence=0.25,
        value=-0.5,
        attribution={"gap": 0.01},
    )
    ev = sig.to_event("btc-momentum")
    assert ev.value == -0.5 and ev.lineage["gap"] == "0.01" and ev.ts_ns == 5_000_000
