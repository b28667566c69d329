"""Deterministic names and labels of children, so "does the desired child exist?" is a lookup."""

from __future__ import annotations

LABEL_AGENT = "quantops.dev/agent"
LABEL_ROLE = "quantops.dev/role"
LABEL_MANAGED = "app.kubernetes.io/managed-by"
ANN_TEMPLATE_HASH = "quantops.dev/template-hash"
ANN_RESTARTED_AT = "quantops.dev/restarted-at"
ANN_CONFIG_HASH = "quantops.dev/config-hash"
ANN_QUEUE = "quantops.dev/queue-length"
ANN_OPEN_ORDERS = "quantops.dev/open-orders"
ANN_HEALTH = "quantops.dev/health"


def deployment_name(agent: str) -> str:
    return f"{agent}-agent"


def config_map_name(agent: str) -> str:
    return f"{agent}-config"


def service_name(agent: str) -> str:
    return f"{agent}-agent"


def state_claim_name(agent: str) -> str:
    return f"{agent}-state"


def selector_labels(agent: str) -> dict[str, str]:
    return {LABEL_AGENT: agent}
