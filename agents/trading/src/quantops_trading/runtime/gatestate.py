"""The agent's view of its effective gate, failing closed to PAUSE when the control plane is lost."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from quantops_api import Gate
from quantops_api.orchestration import effective_gate


@dataclass
class GateState:
    """Gates by scope plus a fail-closed rule: no contact for `grace` seconds means at least PAUSE."""

    grace_seconds: float
    clock: Callable[[], float] = time.monotonic
    gates: dict[str, str] = field(default_factory=dict)
    kill_switches: dict[str, Gate] = field(default_factory=dict)
    last_contact: float | None = None
    history: list[tuple[float, Gate, str]] = field(default_factory=list)

    def update(self, gates: dict[str, str]) -> None:
        self.gates = dict(gates)
        self.last_contact = self.clock()
        self._record()

    def contact(self) -> None:
        self.last_contact = self.clock()

    def trip(self, name: str, gate: Gate) -> None:
        """An automatic kill switch (drawdown, execution health...) adds its own restriction."""
        self.kill_switches[name] = gate
        self._record()

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
