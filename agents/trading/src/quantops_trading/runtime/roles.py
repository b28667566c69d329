"""Role → work. venue-sim serves the simulated exchange; supervisor serves the dashboard, alerts and
reports (runtime/supervisor_role.py); trader runs a whole trading node (runtime/trader_role.py);
canary proves the whole order path on a schedule (runtime/canary_role.py);
pipeline runs the scheduled full pipeline (runtime/pipeline_role.py); roles whose work lands in
later issues (feed) run IdleWork: heartbeats, gates and health only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quantops_api.v1alpha1.roleconfig import CanaryConfig, PipelineConfig, SupervisorConfig, VenueSimConfig
from quantops_trading.adapters.ccxt.credentials import CREDENTIALS_DIR_ENV, load_credentials
from quantops_trading.execution.errors import ConfigurationError
from quantops_trading.runtime.agent import AgentRuntime, IdleWork, RoleWork
from quantops_trading.runtime.canary_role import CanaryWork
from quantops_trading.runtime.pipeline_role import PipelineWork
from quantops_trading.runtime.roleconfig import RoleConfigError, validate_config
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
SECRETS_DIR_ENV = "QUANTOPS_SECRETS_DIR"
"""Where a venue-sim reads its accounts' Secrets, one directory each (<dir>/<secretRef>/apiKey,
secret): the operator mounts them there (quantops_operator.resources.deployments), `quantops up`
writes them under its state dir."""


def with_account_secrets(venue: VenueConfig, secrets_dir: str | None) -> VenueConfig:
    """``venue`` with each ``secretRef`` account's key and secret read from ``secrets_dir``."""
    accounts = []
    for i, account in enumerate(venue.api_keys):
        if account.secret_ref is None:
            accounts.append(account)
            continue
        where = f"apiKeys[{i}].secretRef {account.secret_ref!r}"
        if not secrets_dir:
            raise ConfigurationError(f"{where}: ${SECRETS_DIR_ENV} is not set (where its Secret is mounted)")
        creds = load_credentials(environ={CREDENTIALS_DIR_ENV: str(Path(secrets_dir) / account.secret_ref)})
        if creds.missing():
            raise ConfigurationError(
                f"{where}: {', '.join(creds.missing())} missing in {secrets_dir}/{account.secret_ref}/"
            )
        if account.key is not None and account.key != creds.api_key:
            raise ConfigurationError(f"{where}: the Secret's apiKey is not the account's key")
        accounts.append(account.model_copy(update={"key": creds.api_key, "secret": creds.secret}))
    return venue.model_copy(update={"api_keys": accounts})


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


def work_for(role: str, config: Mapping[str, Any], agent_config: dict[str, Any] | None = None) -> RoleWork:
    """``config`` is the agent's spec.config; ``agent_config`` the whole file `quantops up` writes.

    The config is validated whole first (the role's model, quantops_api.v1alpha1.roleconfig):
    a bad one ends the agent (``SystemExit`` naming the field) before any work is built.
    """
    if role not in ROLES:
        raise SystemExit(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    try:
        typed = validate_config(role, config)
    except RoleConfigError as e:
        raise SystemExit(str(e)) from None
    if isinstance(typed, VenueSimConfig):
        venue = VenueConfig.model_validate(typed.venue)  # checked by validate_config
        try:
            venue = with_account_secrets(venue, os.environ.get(SECRETS_DIR_ENV))
        except ConfigurationError as e:
            raise SystemExit(f"spec.config.venue.{e}") from None
        if os.environ.get(SIM_TOKEN_ENV):  # applied after validation: never echoed in an error
            venue = venue.model_copy(update={"control_token": os.environ[SIM_TOKEN_ENV]})
        # In a pod the operator sets where the venue listens (all addresses, the Service's port);
        # on one machine spec.config does (loopback, a free port by default).
        host = os.environ.get(VENUE_HOST_ENV) or typed.host
        port = int(os.environ.get(VENUE_PORT_ENV) or typed.port)
        return VenueWork(venue, host, port)
    if isinstance(typed, SupervisorConfig):
        return SupervisorWork(typed)
    if role == "trader":
        return TraderWork(dict(config), agent_config)  # trader_role reads the raw dict (validated above)
    if isinstance(typed, PipelineConfig):
        return PipelineWork(typed)
    if isinstance(typed, CanaryConfig):
        return CanaryWork(typed, agent_config)
    return IdleWork()
