"""Every built-in has a sample Strategy manifest that parses and loads; public API and modules are pinned."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest
import yaml

import quantops_trading.signals as signals
import quantops_trading.strategies as strategies
import quantops_trading.strategy as strategy
from quantops_api import Strategy, parse_object
from quantops_trading.strategy import LoadedStrategy, load_from_spec

SAMPLES = Path(__file__).resolve().parents[3] / "crds" / "samples"
PLATFORM = SAMPLES / "platform.yaml"


def _strategy_docs() -> list[tuple[str, dict[str, object]]]:
    docs = [(p.name, yaml.safe_load(p.read_text())) for p in sorted((SAMPLES / "strategies").glob("*.yaml"))]
    docs += [
        (PLATFORM.name, d) for d in yaml.safe_load_all(PLATFORM.read_text()) if d and d["kind"] == "Strategy"
    ]
    return docs


@pytest.mark.parametrize(("source", "doc"), _strategy_docs(), ids=lambda v: v if isinstance(v, str) else "")
def test_strat_sample_manifest_parses_and_loads(source: str, doc: dict[str, object]) -> None:
    obj = parse_object(doc, source)
    assert isinstance(obj, Strategy)
    loaded = load_from_spec(obj.name, obj.spec)
    assert isinstance(loaded, LoadedStrategy), loaded
    assert loaded.ok and loaded.strategy.strategy_id == obj.name


def test_strat_one_sample_per_builtin() -> None:
    entrypoints = {
        yaml.safe_load(p.read_text())["spec"]["entrypoint"] for p in (SAMPLES / "strategies").glob("*.yaml")
    }
    assert entrypoints == {
        f"quantops_trading.strategies.{m}"
        for m in (
            "momentum:Momentum",
            "mean_reversion:MeanReversion",
            "cross_venue_spread:CrossVenueSpread",
            "market_making:MarketMaking",
        )
    }


def test_strat_public_api_is_pinned() -> None:
    for pkg in (strategy, strategies, signals):
        assert all(hasattr(pkg, name) for name in pkg.__all__), pkg.__name__
    assert {"Strategy", "Signal", "Intent", "load_strategy", "StrategyFailure", "INTERFACE_VERSION"} <= set(
        strategy.__all__
    )
    assert {"Momentum", "MeanReversion", "CrossVenueSpread", "MarketMaking"} <= set(strategies.__all__)


@pytest.mark.parametrize("pkg", [strategy, strategies, signals], ids=lambda p: p.__name__)
def test_strat_modules_are_documented_and_sized(pkg: ModuleType) -> None:
    path = pkg.__path__
    for info in pkgutil.iter_modules(path):
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        assert mod.__doc__ and "exists" in mod.__doc__, info.name
        assert mod.__file__ is not None
        lines = len(Path(mod.__file__).read_text().splitlines())
        assert 100 <= lines <= 400, (info.name, lines)
