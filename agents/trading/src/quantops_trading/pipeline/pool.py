"""Strategy pool autoscaling (roadmap 23) and the candidate generator it sizes.

Why it exists: generating and backtesting candidates costs CPU; when most recent candidates pass
the fast path the search space is rich and deserves more samples, when almost none pass it is
wasted work. :class:`PoolScaler` keeps the last ``window`` accept/reject outcomes and sizes the
next cycle's candidate budget linearly in the acceptance rate between ``pool_min`` and
``pool_max`` (the midpoint while there is no history). :func:`propose_variants` makes candidates:
numeric params of a strategy nudged within the bounds its own ``Params`` model declares (``ge``/
``le``/``gt``/``lt``), validated by that model, never equal to the parent.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError

from quantops_trading.pipeline.fingerprint import spec_fingerprint
from quantops_trading.strategy.loader import LoadedStrategy, load_strategy

__all__ = ["PoolScaler", "param_bounds", "params_model", "propose_variants"]


@dataclass
class PoolScaler:
    window: int
    min_size: int
    max_size: int
    outcomes: deque[bool] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if self.min_size > self.max_size:
            raise ValueError(f"pool_min ({self.min_size}) must be ≤ pool_max ({self.max_size})")
        self.outcomes = deque(self.outcomes, maxlen=self.window)

    def record(self, accepted: bool) -> None:
        self.outcomes.append(accepted)

    def acceptance(self) -> float | None:
        return sum(self.outcomes) / len(self.outcomes) if self.outcomes else None

    def budget(self) -> int:
        """Candidates to generate next cycle: more when recent acceptance is high, fewer when low."""
        rate = self.acceptance()
        rate = 0.5 if rate is None else rate
        return round(self.min_size + rate * (self.max_size - self.min_size))

    def export(self) -> dict[str, Any]:
        return {"acceptance": self.acceptance(), "window": list(self.outcomes), "budget": self.budget()}


def params_model(entrypoint: str) -> type[BaseModel]:
    """The strategy's ``Params`` class (loading it with its defaults); ValueError names the failure."""
    loaded = load_strategy(entrypoint, {})
    if not isinstance(loaded, LoadedStrategy):
        raise ValueError(f"entrypoint: {loaded.message}")
    return type(loaded.strategy).Params


def param_bounds(model: type[BaseModel]) -> dict[str, tuple[float, float, bool]]:
    """Numeric fields → (low, high, is_int), from the field constraints (wire names, camelCase)."""
    out: dict[str, tuple[float, float, bool]] = {}
    for name, f in model.model_fields.items():
        if f.annotation not in (int, float):
            continue
        lo, hi = -1e9, 1e9
        for m in f.metadata:
            if isinstance(m, annotated_types.Ge):
                lo = float(m.ge)  # type: ignore[arg-type]
            elif isinstance(m, annotated_types.Gt):
                lo = float(m.gt) + (1 if f.annotation is int else 1e-9)  # type: ignore[arg-type]
            elif isinstance(m, annotated_types.Le):
                hi = float(m.le)  # type: ignore[arg-type]
            elif isinstance(m, annotated_types.Lt):
                hi = float(m.lt) - (1 if f.annotation is int else 1e-9)  # type: ignore[arg-type]
        out[f.alias or name] = (lo, hi, f.annotation is int)
    return out


def propose_variants(
    entrypoint: str,
    params: Mapping[str, Any],
    n: int,
    rng: random.Random,
    *,
    spread: float = 0.3,
    tries: int = 20,
) -> list[dict[str, Any]]:
    """Up to ``n`` distinct valid param sets near ``params`` (each numeric param scaled by ±spread)."""
    model = params_model(entrypoint)
    base = model.model_validate(dict(params)).model_dump(by_alias=True)
    bounds = param_bounds(model)
    seen = {spec_fingerprint(entrypoint, base)}
    out: list[dict[str, Any]] = []
    for _ in range(n * tries):
        if len(out) >= n:
            break
        cand = dict(base)
        for key, (lo, hi, is_int) in bounds.items():
            v = float(base[key])
            step = max(abs(v) * spread, 1.0 if is_int else 1e-6)
            nv = min(hi, max(lo, v + rng.uniform(-step, step)))
            cand[key] = round(nv) if is_int else nv
        try:
            valid = model.model_validate(cand).model_dump(by_alias=True)
        except ValidationError:
            continue
        fp = spec_fingerprint(entrypoint, valid)
        if fp not in seen:
            seen.add(fp)
            out.append(valid)
    return out
