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
    """Gates by scope plus a fail-closed rule: no fresh gate view for `grace` seconds means PAUSE.

    Scopes come in two kinds. Agent-wide ones (``Agent/<me>``, ``RiskPolicy/global``, kill switches,
    the fail-closed rule) restrict everything the agent does: :meth:`effective`. A strategy's own
    ones (``Strategy/<name>`` and the RiskPolicies that apply to it alone, listed in
    ``strategy_scopes``) restrict that strategy only: :meth:`effective_for`. A control plane that
    does not say which scopes belong to a strategy (``strategy_scopes`` empty) makes every scope
    agent-wide — more restrictive, never less.

    Freshness (``last_contact``) comes only from the gate stream itself — a snapshot, a watch
    re-established — never from heartbeats: a dead watch with a living heartbeat must still fail
    closed.
    """

    grace_seconds: float
    clock: Callable[[], float] = time.monotonic
    gates: dict[str, str] = field(default_factory=dict)
    kill_switches: dict[str, Gate] = field(default_factory=dict)
    last_contact: float | None = None
    history: list[tuple[float, Gate, str]] = field(default_factory=list)
    stages: dict[str, dict[str, str | None]] = field(default_factory=dict)
    """Per strategy: ``{"stage": status.stage, "desiredStage": spec.desiredStage}`` as last seen."""
    strategy_scopes: dict[str, list[str]] = field(default_factory=dict)
    """Per strategy: the gate scopes that apply to it alone (``Strategy/x``, ``RiskPolicy/p``)."""
    version: int = 0
    """Bumped whenever the gates or scopes change (a strategy-only change too)."""

    def update(
        self,
        gates: dict[str, str],
        stages: dict[str, dict[str, str | None]] | None = None,
        strategy_scopes: dict[str, list[str]] | None = None,
    ) -> None:
        before = (self.gates, self.strategy_scopes)
        self.gates = dict(gates)
        if stages is not None:  # None: this control plane reports no stages; keep what we had
            self.stages = {k: dict(v) for k, v in stages.items()}
        if strategy_scopes is not None:
            self.strategy_scopes = {k: list(v) for k, v in strategy_scopes.items()}
        if (self.gates, self.strategy_scopes) != before:
            self.version += 1
        self.last_contact = self.clock()
        self._record()

    def trip(self, name: str, gate: Gate) -> None:
        """An automatic kill switch (drawdown, execution health...) adds its own restriction."""
        self.kill_switches[name] = gate
        self.version += 1
        self._record()

    def stage_of(self, strategy: str, desired_default: str | None = None) -> tuple[Stage, str]:
        """The stage to apply; ``desired_default`` is the spec's desiredStage the agent started with."""
        seen = self.stages.get(strategy, {})
        return resolve_stage(seen.get("stage"), seen.get("desiredStage") or desired_default)

    def api_lost(self) -> bool:
        return self.last_contact is None or self.clock() - self.last_contact > self.grace_seconds

    def _agent_scopes(self) -> dict[str, Gate | str | None]:
        own = {k for keys in self.strategy_scopes.values() for k in keys}
        scopes: dict[str, Gate | str | None] = {k: g for k, g in self.gates.items() if k not in own}
        scopes.update({f"KillSwitch/{k}": g for k, g in self.kill_switches.items()})
        if self.api_lost():
            scopes["FailClosed/control-plane-unreachable"] = Gate.PAUSE
        return scopes

    def effective(self) -> tuple[Gate, str]:
        """The agent-wide gate (what every order of this agent is subject to)."""
        view = effective_gate(self._agent_scopes())
        return view.gate, view.source

    def effective_for(self, strategy: str) -> tuple[Gate, str]:
        """The agent-wide gate and the strategy's own scopes together."""
        scopes = self._agent_scopes()
        scopes.update({k: self.gates.get(k) for k in self.strategy_scopes.get(strategy, [])})
        view = effective_gate(scopes)
        return view.gate, view.source

    def strategy_gate(self, strategy: str) -> tuple[Gate, str]:
        """The strategy's own scopes alone (GO when it has none)."""
        view = effective_gate({k: self.gates.get(k) for k in self.strategy_scopes.get(strategy, [])})
        return view.gate, view.source

    def _record(self) -> None:
        gate, source = self.effective()
        if not self.history or self.history[-1][1] != gate:
            self.history.append((self.clock(), gate, source))
