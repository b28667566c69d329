"""Secrets under `quantops up`: the local twin of the Kubernetes Secrets a manifest names.

Why it exists: exchange keys never go in a manifest (``quantops_api.v1alpha1.roleconfig``
refuses them). On Kubernetes an Agent names a Secret (``spec.config.exchangeSecret``, a venue-sim
account's ``secretRef``) and the kubelet hands it to the pod; on one machine that Secret is the
directory ``<state-dir>/secrets/<name>/`` holding the files ``apiKey`` and ``secret`` (0700/0600,
created exclusively, never logged). A Secret a venue-sim account names is the simulator's own
demo account: it is made here with random values when absent, so the demo needs no key in any
file of the repository. A Secret named only by ``exchangeSecret`` (a real venue's keys) is never
invented: its absence is an error naming the field and the path to create.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from quantops_api import Agent, ManifestError
from quantops_api.v1alpha1.roleconfig import RoleConfig, VenueSimConfig, role_config
from quantops_trading.adapters.ccxt.credentials import CREDENTIALS_DIR_ENV
from quantops_trading.runtime.roles import SECRETS_DIR_ENV

__all__ = ["agent_env", "prepare", "secrets_dir"]

ENTRIES = ("apiKey", "secret")


def secrets_dir(state_dir: Path) -> Path:
    return state_dir / "secrets"


def _write_new(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)


def _make_demo(directory: Path) -> None:
    directory.mkdir(mode=0o700, exist_ok=True)
    values = {"apiKey": "sim-" + secrets.token_hex(12), "secret": secrets.token_urlsafe(32)}
    for entry in ENTRIES:
        if not (directory / entry).exists():
            _write_new(directory / entry, values[entry])


def prepare(state_dir: Path, agents: Iterable[Agent]) -> None:
    """Every Secret the agents name exists under the state dir: demo accounts of a venue-sim are
    made, any other missing one is a :class:`ManifestError` naming the agent and field."""
    root = secrets_dir(state_dir)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    problems = []
    configs = [(agent, role_config(agent.spec.role, agent.spec.config)) for agent in agents]
    for _, cfg in configs:  # first every demo account, so a trader naming one finds it
        for name in cfg.account_secret_refs():
            _make_demo(root / name)
    for agent, cfg in configs:
        for name in cfg.secret_refs():
            missing = [e for e in ENTRIES if not (root / name / e).is_file()]
            if missing:
                field = "exchangeSecret" if name == cfg.exchange_secret else "venue.apiKeys[].secretRef"
                problems.append(
                    f"Agent/{agent.name}: spec.config.{field}: Secret {name!r} not found: create "
                    f"{root / name}/apiKey and {root / name}/secret (mode 0600)"
                )
    if problems:
        raise ManifestError("\n".join(problems))


def agent_env(state_dir: Path, agent: Agent) -> dict[str, str]:
    """Where the agent process finds its Secrets (paths only; the values stay in their files)."""
    cfg: RoleConfig = role_config(agent.spec.role, agent.spec.config)
    env = {}
    if cfg.exchange_secret:
        env[CREDENTIALS_DIR_ENV] = str(secrets_dir(state_dir) / cfg.exchange_secret)
    if isinstance(cfg, VenueSimConfig):
        env[SECRETS_DIR_ENV] = str(secrets_dir(state_dir))
    return env
