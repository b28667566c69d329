"""RiskPolicy controller: the schema/CEL already validated limits; report Ready and the gate."""

from __future__ import annotations

import datetime as dt
from typing import Any

import kopf

from quantops_api import Gate, RiskPolicyStatus
from quantops_operator.reconcile.strategy import POLICY_OWNED, owned_status_patch, policy_status
from quantops_operator.settings import RESYNC_SECONDS

POLICIES = ("quantops.dev", "v1alpha1", "riskpolicies")


@kopf.on.resume(*POLICIES)
@kopf.on.create(*POLICIES)
@kopf.on.update(*POLICIES, field="spec")
async def policy_changed(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    reconcile_policy(body, patch)


@kopf.timer(*POLICIES, interval=RESYNC_SECONDS, idle=0)
async def policy_resync(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """Repairs a status nobody announced a change of (a missed event, a hand edit); writes only diffs."""
    reconcile_policy(body, patch)


def reconcile_policy(body: kopf.Body, patch: kopf.Patch) -> None:
    raw = dict(body.get("status") or {})
    old = RiskPolicyStatus.model_validate(raw) if raw else None
    status = policy_status(
        old, Gate(body["spec"].get("gate", "GO")), body["metadata"].get("generation"), dt.datetime.now(dt.UTC)
    )
    changes = owned_status_patch(status.to_wire(), raw, POLICY_OWNED)
    if changes:  # never the trader's lastBudgetChange from a possibly stale view
        patch.status.update(changes)
