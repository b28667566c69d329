"""Centralised configuration: one schema, one loader, documented precedence (roadmap 8).

Precedence, lowest first: model defaults < YAML files < Kubernetes object config < environment
variables ``QUANTOPS_<SECTION>__<KEY>``. See docs/operations.md.
"""

from quantops_trading.config.loader import ENV_FILES_VAR, ENV_PREFIX, ConfigError, LoadedConfig, load_config
from quantops_trading.config.schema import (
    AgentSection,
    KubernetesSection,
    LogRotationPolicy,
    NetworkSection,
    PreflightSection,
    QuantopsConfig,
    TraderSection,
    VenueEndpoint,
)

__all__ = [
    "ENV_FILES_VAR",
    "ENV_PREFIX",
    "AgentSection",
    "ConfigError",
    "KubernetesSection",
    "LoadedConfig",
    "LogRotationPolicy",
    "NetworkSection",
    "PreflightSection",
    "QuantopsConfig",
    "TraderSection",
    "VenueEndpoint",
    "load_config",
]
