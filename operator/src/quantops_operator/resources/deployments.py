"""The Deployment, Service and ConfigMap for an Agent: probes, graceful shutdown, hardened pods.

Pure builders. The pod template carries a hash annotation so "is the running template the
desired one?" is a string comparison, and a restarted-at annotation the reconcile sets to roll
pods (backoff restart, max-uptime recycle) the same way `kubectl rollout restart` does.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from typing import Any

from quantops_api import Agent
from quantops_operator.agent_rbac import service_account
from quantops_operator.resources.names import (
    ANN_CONFIG_HASH,
    ANN_RESTARTED_AT,
    ANN_TEMPLATE_HASH,
    LABEL_AGENT,
    LABEL_MANAGED,
    LABEL_ROLE,
    config_map_name,
    deployment_name,
    selector_labels,
    service_name,
    state_claim_name,
)

__all__ = [
    "ANN_TEMPLATE_HASH",
    "DEFAULT_IMAGE",
    "StateVolume",
    "config_map",
    "deployment",
    "service",
    "state_claim",
    "template_hash",
]

DEFAULT_IMAGE = "quantops/agent:dev"
VENUE_PORT = 8081
"""Where a venue-sim pod serves the simulated exchange (port ``venue`` of its Service)."""
VENUE_ENV = {"QUANTOPS_VENUE_HOST": "0.0.0.0", "QUANTOPS_VENUE_PORT": str(VENUE_PORT)}
"""Read by quantops_trading.runtime.roles (this package may not import it)."""
STARTUP_SECONDS = 180
"""How long an agent may take to start serving its probes before the kubelet restarts it."""
SINGLETON_ROLES = frozenset({"trader"})
"""Roles that must never run twice at once: one pod, replaced with Recreate, state on a volume."""


@dataclass(frozen=True)
class StateVolume:
    """Where a singleton agent keeps ``/var/lib/quantops`` (its event logs, positions, switches).

    persistent: a PersistentVolumeClaim ``<agent>-state`` that outlives the pod — a replaced
    trader resumes its positions instead of buying them again. Not persistent: an emptyDir
    (state lost with the pod; only for clusters without volumes, e.g. kwok).
    """

    persistent: bool = True
    storage_class: str | None = None  # None: the cluster's default StorageClass
    size: str = "1Gi"

    @classmethod
    def from_env(cls) -> StateVolume:
        flag = os.environ.get("QUANTOPS_STATE_PERSISTENT", "true").lower()
        return cls(
            persistent=flag not in ("false", "0", "no"),
            storage_class=os.environ.get("QUANTOPS_STATE_STORAGE_CLASS") or None,
            size=os.environ.get("QUANTOPS_STATE_SIZE") or "1Gi",
        )


def has_state_claim(agent: Agent, state: StateVolume) -> bool:
    return state.persistent and agent.spec.role in SINGLETON_ROLES


# Exchange keys from an existing Secret (never created or read by the operator): the chart passes
# `exchange.existingSecret` as $QUANTOPS_EXCHANGE_SECRET for every trader; an Agent's
# spec.config.exchangeSecret names one for that agent (any role). The pod gets the Secret's
# `apiKey`/`secret` entries as env vars by secretKeyRef (the kubelet resolves them; a missing Secret
# keeps the pod from starting: fail closed). The variable names must match
# quantops_trading.adapters.ccxt.credentials.SECRET_KEYS (this package may not import it).
EXCHANGE_SECRET_ENV = "QUANTOPS_EXCHANGE_SECRET"
EXCHANGE_KEY_ENV = {"apiKey": "QUANTOPS_EXCHANGE_API_KEY", "secret": "QUANTOPS_EXCHANGE_API_SECRET"}


def exchange_secret_for(agent: Agent, default: str | None = None) -> str | None:
    """The Secret whose keys this agent's pods get: its own spec.config, else the default for traders
    (the name is checked with the spec: roleconfig.check_object_name)."""
    own = agent.spec.typed_config().exchange_secret
    if own is not None:
        return own
    if default is None:
        default = os.environ.get(EXCHANGE_SECRET_ENV, "")
    return default if default and agent.spec.role == "trader" else None


# A venue-sim's simulated accounts name their Secrets (spec.config.venue.apiKeys[].secretRef): each
# is mounted read-only at ACCOUNT_SECRETS_DIR/<name>/ (files apiKey, secret; group-readable by the
# pod's fsGroup) and the agent reads them there ($QUANTOPS_SECRETS_DIR, runtime/roles.py).
ACCOUNT_SECRETS_DIR = "/var/run/quantops/secrets"
ACCOUNT_SECRETS_ENV = "QUANTOPS_SECRETS_DIR"


def account_secrets(agent: Agent) -> list[str]:
    """The Secrets a venue-sim's accounts name (none for other roles)."""
    return agent.spec.typed_config().account_secret_refs()


def account_secret_volumes(names: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volume mounts) for :func:`account_secrets`."""
    volumes = [
        {
            "name": f"account-{i}",
            "secret": {
                "secretName": name,
                "defaultMode": 0o440,
                "items": [{"key": "apiKey", "path": "apiKey"}, {"key": "secret", "path": "secret"}],
            },
        }
        for i, name in enumerate(names)
    ]
    mounts = [
        {"name": f"account-{i}", "mountPath": f"{ACCOUNT_SECRETS_DIR}/{name}", "readOnly": True}
        for i, name in enumerate(names)
    ]
    return volumes, mounts


def exchange_env(secret_name: str) -> list[dict[str, Any]]:
    return [
        {"name": env, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key, "optional": False}}}
        for key, env in EXCHANGE_KEY_ENV.items()
    ]


def template_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def owner_reference(agent: Agent) -> dict[str, Any]:
    return {
        "apiVersion": agent.api_version,
        "kind": "Agent",
        "name": agent.name,
        "uid": agent.metadata.uid or "",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _labels(agent: Agent) -> dict[str, str]:
    return {**selector_labels(agent.name), LABEL_ROLE: agent.spec.role, LABEL_MANAGED: "quantops-operator"}


def pod_template(
    agent: Agent,
    image: str,
    restarted_at: str | None,
    exchange_secret: str | None = None,
    state: StateVolume | None = None,
) -> dict[str, Any]:
    s = agent.spec
    state = state or StateVolume()
    secret = exchange_secret_for(agent, exchange_secret)
    probe = {"periodSeconds": s.probes.period_seconds, "failureThreshold": s.probes.failure_threshold}
    ports = [{"name": "http", "containerPort": s.probes.port}]
    role_env: list[dict[str, Any]] = []
    accounts = account_secrets(agent)
    account_volumes, account_mounts = account_secret_volumes(accounts)
    if s.role == "venue-sim":
        ports.append({"name": "venue", "containerPort": VENUE_PORT})
        role_env = [{"name": k, "value": v} for k, v in VENUE_ENV.items()]
    if accounts:
        role_env.append({"name": ACCOUNT_SECRETS_ENV, "value": ACCOUNT_SECRETS_DIR})
    container = {
        "name": "agent",
        "image": s.image or image,
        "args": ["--role", s.role, "--agent", agent.name],
        "ports": ports,
        "env": [
            {"name": "QUANTOPS_AGENT", "value": agent.name},
            {"name": "QUANTOPS_ROLE", "value": s.role},
            {"name": "QUANTOPS_CONFIG", "value": "/etc/quantops/config.json"},
            {"name": "QUANTOPS_STATE_DIR", "value": "/var/lib/quantops"},  # the `state` volume
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            *role_env,
            *(exchange_env(secret) if secret else []),
        ],
        # Liveness only once the agent has started: a busy node can take longer than
        # failureThreshold x periodSeconds to import and start an agent, and liveness then killed
        # it before it ever served (seen on the real node: 25 Agents on 2 cores, restart loops).
        "startupProbe": {
            "httpGet": {"path": s.probes.liveness_path, "port": "http"},
            "periodSeconds": s.probes.period_seconds,
            "failureThreshold": max(
                s.probes.failure_threshold, math.ceil(STARTUP_SECONDS / s.probes.period_seconds)
            ),
        },
        "livenessProbe": {"httpGet": {"path": s.probes.liveness_path, "port": "http"}, **probe},
        "readinessProbe": {"httpGet": {"path": s.probes.readiness_path, "port": "http"}, **probe},
        "lifecycle": {"preStop": {"sleep": {"seconds": s.shutdown.pre_stop_sleep_seconds}}},
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/quantops", "readOnly": True},
            {"name": "state", "mountPath": "/var/lib/quantops"},
            {"name": "tmp", "mountPath": "/tmp"},  # read-only root: HOME and tempfiles live here
            *account_mounts,
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
    }
    spec = {
        "serviceAccountName": service_account(s.role),  # one account per role (agent_rbac)
        "terminationGracePeriodSeconds": s.shutdown.termination_grace_seconds,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,  # a fresh volume is writable by the agent's user
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": config_map_name(agent.name)}},
            {"name": "state", "persistentVolumeClaim": {"claimName": state_claim_name(agent.name)}}
            if has_state_claim(agent, state)
            else {"name": "state", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
            *account_volumes,
        ],
    }
    # Agents read their config once at start: a config change must roll the pods, so the rendered
    # ConfigMap's hash is part of the template (and so of the template hash).
    annotations = {ANN_CONFIG_HASH: template_hash(config_map(agent)["data"])}
    if restarted_at:
        annotations[ANN_RESTARTED_AT] = restarted_at
    return {"metadata": {"labels": _labels(agent), "annotations": annotations}, "spec": spec}


def deployment(
    agent: Agent,
    replicas: int,
    image: str = DEFAULT_IMAGE,
    restarted_at: str | None = None,
    exchange_secret: str | None = None,
    state: StateVolume | None = None,
) -> dict[str, Any]:
    """``exchange_secret`` None: the operator's $QUANTOPS_EXCHANGE_SECRET; "" for none.

    A singleton role (trader) runs one pod at most and is replaced with ``Recreate``: the old pod
    has stopped before the new one starts, so two traders never trade at once (the trader's own
    Lease lock guards the rest, e.g. a node that lost contact while its pod still runs).
    """
    template = pod_template(agent, image, restarted_at, exchange_secret, state)
    h = template_hash(template)
    template["metadata"]["annotations"][ANN_TEMPLATE_HASH] = h  # pods say which template made them
    single = agent.spec.role in SINGLETON_ROLES
    strategy: dict[str, Any] = (
        {"type": "Recreate"}
        if single
        else {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name(agent.name),
            "labels": _labels(agent),
            "annotations": {ANN_TEMPLATE_HASH: h},
            "ownerReferences": [owner_reference(agent)],
        },
        "spec": {
            "replicas": min(replicas, 1) if single else replicas,
            "selector": {"matchLabels": selector_labels(agent.name)},
            "strategy": strategy,
            "template": template,
        },
    }


def state_claim(agent: Agent, state: StateVolume) -> dict[str, Any]:
    """The singleton's state volume claim. No owner reference on purpose: deleting the Agent keeps
    its event logs and positions (delete the claim by hand once the venue account is flat)."""
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": state.size}},
    }
    if state.storage_class:
        spec["storageClassName"] = state.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": state_claim_name(agent.name), "labels": _labels(agent)},
        "spec": spec,
    }


def config_map(agent: Agent) -> dict[str, Any]:
    rendered = {
        "agent": agent.name,
        "role": agent.spec.role,
        "strategies": agent.spec.strategies,
        "heartbeatSeconds": agent.spec.heartbeat_seconds,
        "apiLossGraceSeconds": agent.spec.api_loss_grace_seconds,
        "probes": agent.spec.probes.to_wire(),
        "config": agent.spec.config,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": config_map_name(agent.name),
            "labels": _labels(agent),
            "ownerReferences": [owner_reference(agent)],
        },
        "data": {"config.json": json.dumps(rendered, sort_keys=True, indent=2)},
    }


def service(agent: Agent) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(agent.name),
            "labels": _labels(agent),
            "ownerReferences": [owner_reference(agent)],
        },
        "spec": _service_spec(agent),
    }


def _service_spec(agent: Agent) -> dict[str, Any]:
    http = {"name": "http", "port": agent.spec.probes.port, "targetPort": "http"}
    if agent.spec.role == "venue-sim":  # other agents reach the venue at this Service's ClusterIP
        return {
            "selector": {LABEL_AGENT: agent.name},
            "ports": [http, {"name": "venue", "port": VENUE_PORT, "targetPort": "venue"}],
        }
    # headless: health/metrics by endpoints; no ClusterIP per agent to exhaust
    return {"clusterIP": "None", "selector": {LABEL_AGENT: agent.name}, "ports": [http]}


def current_template_hash(dep: dict[str, Any] | None) -> str | None:
    if dep is None:
        return None
    value = dep.get("metadata", {}).get("annotations", {}).get(ANN_TEMPLATE_HASH)
    return str(value) if value is not None else None
