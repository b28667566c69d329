"""The agent's view of its effective gate (failing closed to PAUSE when the control plane is lost)
and of each strategy's stage (failing closed to paper when no stage is known)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from quantops_api import Gate, Stage
from quantops_api.orchestration import effective_gate

_RANK = {Stage.COLD: 0, Stage.WARM: 1, Stage.HOT: 2}
UNKNOWN_STAGE = Stage.WARM
"""No ``status.stage`` yet (the pipeline has not judged it): paper, never live (fail closed)."""


def resolve_stage(observed: str | None, desired: str | None) -> tuple[Stage, str]:
    """The stage the trader applies: ``status.stage`` capped by ``spec.desiredStage``.

    An unknown or unreadable ``status.stage`` counts as WARM (paper): a strategy is live only once
    something promoted it to HOT. ``spec.desiredStage`` is the ceiling the owner set, so lowering it
    takes effect at once, before the pipeline demotes.
    """
    try:
        stage, why = Stage(str(observed)), f"status.stage {observed}"
    except ValueError:
        stage = UNKNOWN_STAGE
        why = f"no status.stage ({observed!r}): fail closed to {UNKNOWN_STAGE.value} (paper)"
    try:
        cap = Stage(desired) if desired is not None else None
    except ValueError:
        cap, why = Stage.COLD, f"spec.desiredStage {desired!r} is not COLD/WARM/HOT: fail closed to COLD"
        return cap, why
    if cap is not None and _RANK[cap] < _RANK[stage]:
        return cap, f"{why}, capped by spec.desiredStage {cap.value}"
    return stage, why


@dataclass
class GateState:
    """Gates by scope plus a fail-closed rule: no contact for `grace` seconds means at least PAUSE."""

    grace_seconds: float
    clock: Callable[[], float] = time.monotonic
    gates: dict[str, str] = field(default_factory=dict)
    kill_switches: dict[str, Gate] = field(default_factory=dict)
    last_contact: float | None = None
    history: list[tuple[float, Gate, str]] = field(default_factory=list)
    stages: dict[str, dict[str, str | None]] = field(default_factory=dict)
    """Per strategy: ``{"stage": status.stage, "desiredStage": spec.desiredStage}`` as last seen."""

    def update(self, gates: dict[str, str], stages: dict[str, dict[str, str | None]] | None = None) -> None:
        self.gates = dict(gates)
        if stages is not None:  # None: this control plane reports no stages; keep what we had
            self.stages = {k: dict(v) for k, v in stages.items()}
        self.last_contact = self.clock()
        self._record()

    def contact(self) -> None:
        self.last_contact = self.clock()

    def trip(self, name: str, gate: Gate) -> None:
        """An automatic kill switch (drawdown, execution health...) adds its own restriction."""
        self.kill_switches[name] = gate
        self._record()

    def stage_of(self, strategy: str, desired_default: str | None = None) -> tuple[Stage, str]:
        """The stage to apply; ``desired_default`` is the spec's desiredStage the agent started with."""
        seen = self.stages.get(strategy, {})
        return resolve_stage(seen.get("stage"), seen.get("desiredStage") or desired_default)

    def api_lost(self) -> bool:
        return self.last_contact is None or self.clock() - self.last_contact > self.grace_seconds

    def effective(self) -> tuple[Gate, str]:
        scopes: dict[str, Gate | str | None] = dict(self.gates)
        scopes.update({f"KillSwitch/{k}": g for k, g in self.kill_switches.items()})
        if self.api_lost():
            scopes["FailClosed/control-plane-unreachable"] = Gate.PAUSE
        view = effective_gate(scopes)
        return view.gate, view.source

    def _record(self) -> None:
        gate, source = self.effective()
        if not self.history or self.history[-1][1] != gate:
            self.history.append((self.clock(), gate, source))
