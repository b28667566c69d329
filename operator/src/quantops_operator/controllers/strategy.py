"""Strategy controller: resolve policies, compute effective gate and fingerprint, report Ready."""

from __future__ import annotations

import datetime as dt
from typing import Any

import kopf

from quantops_api import Gate, Strategy
from quantops_api.v1alpha1.conditions import EventReason
from quantops_operator.bodies import model_input
from quantops_operator.reconcile.strategy import (
    STRATEGY_INITIAL,
    STRATEGY_OWNED,
    PolicyView,
    owned_status_patch,
    strategy_status,
)
from quantops_operator.settings import RESYNC_SECONDS

STRATEGIES = ("quantops.dev", "v1alpha1", "strategies")


@kopf.index("quantops.dev", "v1alpha1", "riskpolicies")
async def policy_views(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict[Any, Any]:
    return {namespace: PolicyView(name, Gate(spec.get("gate", "GO")), dict(spec.get("selector") or {}))}


@kopf.index(*STRATEGIES)
async def strategy_names(namespace: str, name: str, **_: Any) -> dict[Any, Any]:
    return {namespace: name}


async def reconcile_strategy(body: kopf.Body, patch: kopf.Patch, policy_views: kopf.Index[Any, Any]) -> None:
    meta = body["metadata"]
    strategy = Strategy.from_wire(model_input(body))
    policies = list(policy_views.get(meta["namespace"], []))
    status, event = strategy_status(strategy, policies, dt.datetime.now(dt.UTC))
    if event:
        kopf.event(body, type="Normal", reason=EventReason.EFFECTIVE_GATE_CHANGED, message=event)
    changes = owned_status_patch(
        status.to_wire(), dict(body.get("status") or {}), STRATEGY_OWNED, STRATEGY_INITIAL
    )
    if changes:  # never the pipeline's stage/transitions/evidence from a possibly stale view
        patch.status.update(changes)


@kopf.on.resume(*STRATEGIES)
@kopf.on.create(*STRATEGIES)
@kopf.on.update(*STRATEGIES, field="spec")
async def strategy_changed(
    body: kopf.Body, patch: kopf.Patch, policy_views: kopf.Index[Any, Any], **_: Any
) -> None:
    await reconcile_strategy(body, patch, policy_views)


@kopf.timer(*STRATEGIES, interval=RESYNC_SECONDS, idle=0)
async def strategy_resync(
    body: kopf.Body, patch: kopf.Patch, policy_views: kopf.Index[Any, Any], **_: Any
) -> None:
    await reconcile_strategy(body, patch, policy_views)
