"""Role → work. venue-sim serves the simulated exchange; supervisor serves the dashboard, alerts and
reports (runtime/supervisor_role.py); trader runs a whole trading node (runtime/trader_role.py);
canary proves the whole order path on a schedule (runtime/canary_role.py);
pipeline runs the scheduled full pipeline (runtime/pipeline_role.py); roles whose work lands in
later issues (feed) run IdleWork: heartbeats, gates and health only.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import ValidationError

from quantops_trading.runtime.agent import AgentRuntime, IdleWork, RoleWork
from quantops_trading.runtime.canary_role import CanaryWork
from quantops_trading.runtime.pipeline_role import PipelineWork
from quantops_trading.runtime.supervisor_role import SupervisorWork
from quantops_trading.runtime.trader_role import TraderWork
from quantops_trading.venue.config import VenueConfig
from quantops_trading.venue.server import VenueServer

ROLES = ("trader", "pipeline", "supervisor", "feed", "venue-sim", "canary")
VENUE_HOST_ENV = "QUANTOPS_VENUE_HOST"
VENUE_PORT_ENV = "QUANTOPS_VENUE_PORT"
"""Set by the operator on venue-sim pods (quantops_operator.resources.deployments.VENUE_PORT)."""
SIM_TOKEN_ENV = "QUANTOPS_SIM_CONTROL_TOKEN"
"""The simulator's /_sim control token (VenueConfig.controlToken); `quantops up` sets it."""


class VenueWork(IdleWork):
    """The venue simulator inside the venue-sim agent: started with the agent, stopped on SIGTERM."""

    def __init__(self, config: VenueConfig, host: str, port: int) -> None:
        self.config, self.host, self.port = config, host, port
        self.url = ""
        self.server: VenueServer | None = None

    async def run(self, rt: AgentRuntime) -> None:
        self.server = VenueServer(self.config)
        self.url = await self.server.start(self.host, self.port)
        print(f'{{"event": "venue_listening", "agent": "{rt.name}", "url": "{self.url}"}}', flush=True)
        try:
            await rt.stopping.wait()
        finally:
            await self.server.stop()

    def describe(self) -> dict[str, Any]:
        return {"venueUrl": self.url, "venue": self.config.name}


def work_for(role: str, config: dict[str, Any], agent_config: dict[str, Any] | None = None) -> RoleWork:
    """``config`` is the agent's spec.config; ``agent_config`` the whole file `quantops up` writes."""
    if role not in ROLES:
        raise SystemExit(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role == "venue-sim":
        try:
            venue = VenueConfig.model_validate(config.get("venue"))
        except ValidationError as e:
            raise SystemExit(f"spec.config.venue: invalid venue-sim config: {e}") from e
        if os.environ.get(SIM_TOKEN_ENV):  # applied after validation: never echoed in an error
            venue = venue.model_copy(update={"control_token": os.environ[SIM_TOKEN_ENV]})
        # In a pod the operator sets where the venue listens (all addresses, the Service's port);
        # on one machine spec.config does (loopback, a free port by default).
        host = os.environ.get(VENUE_HOST_ENV) or str(config.get("host", "127.0.0.1"))
        port = int(os.environ.get(VENUE_PORT_ENV) or config.get("port", 0))
        return VenueWork(venue, host, port)
    if role == "supervisor":
        return SupervisorWork(config)
    if role == "trader":
        return TraderWork(config, agent_config)
    if role == "pipeline":
        return PipelineWork(config)
    if role == "canary":
        return CanaryWork(config, agent_config)
    return IdleWork()
