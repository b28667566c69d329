"""Where the pipeline reads Strategy specs/statuses and writes its decisions.

Why it exists: the same pipeline runs on Kubernetes (Strategy status subresource) and under
``quantops up`` (the local supervisor); :class:`StrategyStore` is the seam. Implementations live in
``runtime/strategy_status.py`` (Kube, Local); :class:`MemoryStore` is the in-process one for
library use and tests. ``write_status`` takes a partial status in wire form (camelCase) and merges it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from quantops_api import StrategySpec, StrategyStatus
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.pipeline.claims import ClaimView, may_claim

__all__ = ["MemoryStore", "StatusWriteError", "StrategyRecord", "StrategyStore", "merge_status"]


class StatusWriteError(RuntimeError):
    """The status could not be read or written (API/supervisor unreachable or refused)."""


@dataclass(frozen=True)
class StrategyRecord:
    name: str
    spec: StrategySpec
    status: StrategyStatus


class StrategyStore(Protocol):
    def list_strategies(self) -> list[StrategyRecord]: ...
    def risk_policies(self) -> dict[str, RiskPolicySpec]: ...
    def write_status(self, name: str, patch: dict[str, Any]) -> None: ...
    def claim(self, name: str, holder: str, ttl: float, fresh: float, now: float) -> tuple[bool, str]:
        """Take the work item ``name`` for ``holder`` (see ``pipeline.claims``); (taken, why)."""
        ...

    def release(self, name: str, holder: str, now: float) -> None: ...


def merge_status(old: StrategyStatus, patch: dict[str, Any]) -> StrategyStatus:
    """JSON-merge ``patch`` (wire form) into ``old``; validation errors name the field."""
    wire = old.to_wire()
    for k, v in patch.items():
        if v is None:
            wire.pop(k, None)
        else:
            wire[k] = v
    return StrategyStatus.model_validate(wire)


class MemoryStore:
    def __init__(
        self, records: dict[str, StrategySpec], policies: dict[str, RiskPolicySpec] | None = None
    ) -> None:
        self.specs = dict(records)
        self.statuses: dict[str, StrategyStatus] = {n: StrategyStatus() for n in records}
        self.policies = dict(policies or {})
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.claims: dict[str, ClaimView] = {}

    def list_strategies(self) -> list[StrategyRecord]:
        return [StrategyRecord(n, s, self.statuses[n]) for n, s in sorted(self.specs.items())]

    def risk_policies(self) -> dict[str, RiskPolicySpec]:
        return dict(self.policies)

    def write_status(self, name: str, patch: dict[str, Any]) -> None:
        if name not in self.specs:
            raise StatusWriteError(f"strategy {name!r} does not exist")
        self.statuses[name] = merge_status(self.statuses[name], patch)
        self.writes.append((name, patch))

    def claim(self, name: str, holder: str, ttl: float, fresh: float, now: float) -> tuple[bool, str]:
        ok, why = may_claim(self.claims.get(name), holder, now, fresh)
        if ok:
            self.claims[name] = ClaimView(holder, now, ttl, holder)
        return ok, why

    def release(self, name: str, holder: str, now: float) -> None:
        c = self.claims.get(name)
        if c is not None and c.holder == holder:
            self.claims[name] = ClaimView(None, now, c.duration, holder)
