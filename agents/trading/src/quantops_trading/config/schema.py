"""The platform configuration schema every agent shares (roadmap 8).

Why it exists: environment and tooling settings (log rotation, network self-check venues, preflight
thresholds, Kubernetes access) used to be read ad hoc from env vars and files. One pydantic model
validates them all at the boundary so a typo fails at startup with the key path, never at 3 a.m.

What it must not do: hold strategy or risk parameters. Those live in the Strategy/RiskPolicy
resources (quantops_api); this model is only about how an agent process runs. Other packages can
define their own section models and load them with the same loader (``load_config(model=...)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

__all__ = [
    "AgentSection",
    "KubernetesSection",
    "LogRotationPolicy",
    "NetworkSection",
    "PreflightSection",
    "QuantopsConfig",
    "TraderSection",
    "VenueEndpoint",
]

_MIB = 1024 * 1024


class _Section(BaseModel):
    """Frozen, unknown keys rejected: a misspelt key is an error, not a silently ignored setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentSection(_Section):
    name: str = Field(default="quantops", min_length=1, description="Agent name, used for log files.")
    role: str | None = Field(default=None, description="Agent role (trader, pipeline, supervisor, ...).")
    log_dir: Path | None = Field(default=None, description="Log directory; None means <state_dir>/logs.")


class TraderSection(_Section):
    max_orders: PositiveInt = Field(default=100, description="Max working orders per trader process.")


class VenueEndpoint(_Section):
    """A venue the network self-check probes before any feed starts."""

    name: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://", description="Base URL probed with DNS, TCP and an HTTP GET.")


class NetworkSection(_Section):
    venues: tuple[VenueEndpoint, ...] = Field(default=(), description="Venues to probe (empty = skipped).")
    timeout_s: float = Field(default=3.0, gt=0, le=60, description="Per-step timeout of the self-check.")
    require_all: bool = Field(default=True, description="NO_GO if any venue fails (else only if all fail).")


class LogRotationPolicy(_Section):
    """Bounded log disk use: one agent never holds more than ``(backup_count + 1) * max_bytes``.

    Rotation happens on size, and also every ``rotate_every_s`` seconds when set (time based);
    either way the number of files is capped, so the bound holds.
    """

    max_bytes: int = Field(default=10 * _MIB, ge=1024, description="Size of one log file before rotation.")
    backup_count: int = Field(default=5, ge=1, le=1000, description="Rotated files kept.")
    rotate_every_s: PositiveInt | None = Field(default=86_400, description="Time-based rotation period.")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @property
    def disk_bound_bytes(self) -> int:
        """The most bytes one agent's logs can occupy."""
        return (self.backup_count + 1) * self.max_bytes


class PreflightSection(_Section):
    disk_warn_free_bytes: int = Field(default=1024 * _MIB, ge=0)
    disk_fail_free_bytes: int = Field(default=200 * _MIB, ge=0)
    clock_warn_skew_s: float = Field(default=2.0, gt=0)
    clock_fail_skew_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> PreflightSection:
        if self.disk_fail_free_bytes > self.disk_warn_free_bytes:
            raise ValueError("disk_fail_free_bytes must not exceed disk_warn_free_bytes")
        if self.clock_fail_skew_s < self.clock_warn_skew_s:
            raise ValueError("clock_fail_skew_s must not be below clock_warn_skew_s")
        return self


class KubernetesSection(_Section):
    kubeconfig: Path | None = Field(default=None, description="None = $KUBECONFIG or ~/.kube/config.")
    timeout_s: float = Field(default=3.0, gt=0, le=60)


class QuantopsConfig(_Section):
    """The whole platform configuration. Precedence: defaults < files < Kubernetes < env."""

    agent: AgentSection = AgentSection()
    trader: TraderSection = TraderSection()
    network: NetworkSection = NetworkSection()
    logging: LogRotationPolicy = LogRotationPolicy()
    preflight: PreflightSection = PreflightSection()
    kubernetes: KubernetesSection = KubernetesSection()
