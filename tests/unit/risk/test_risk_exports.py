"""The risk package's public API is deliberate (httpx-style pin) and every module says why it exists."""

from __future__ import annotations

import importlib
import pkgutil

from risk_support import RecordingClient

import quantops_trading.risk as risk
from quantops_trading.execution.types import ExecutionClient


def test_all_is_importable_and_pinned() -> None:
    assert all(hasattr(risk, name) for name in risk.__all__)
    assert {
        "RiskGateway",
        "OrderRequest",
        "Decision",
        "RiskRule",
        "UnwindLadder",
        "simulate_promotion",
    } <= set(risk.__all__)


def test_modules_are_documented_and_sized() -> None:
    for info in pkgutil.iter_modules(risk.__path__):
        mod = importlib.import_module(f"quantops_trading.risk.{info.name}")
        assert mod.__doc__ and "exists" in mod.__doc__, info.name
        assert mod.__file__ is not None
        with open(mod.__file__, encoding="utf-8") as f:
            assert 100 <= len(f.readlines()) <= 400, info.name


def test_the_fake_is_a_real_execution_client_and_an_order_port() -> None:
    client = RecordingClient()
    assert isinstance(client, ExecutionClient) and isinstance(client, risk.OrderPort)
