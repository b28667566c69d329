"""Every spec.gate change on any quantops object is a Kubernetes Event: old → new, who, why."""

from __future__ import annotations

from typing import Any

import kopf

from quantops_api import Gate
from quantops_api.v1alpha1.conditions import EventReason

RESOURCES = ("agents", "strategies", "riskpolicies")


def _who(body: kopf.Body) -> str:
    """The field manager that last wrote spec.gate (kubectl-patch, quantops, ...)."""
    best = ("", "unknown")
    for mf in body.get("metadata", {}).get("managedFields") or []:
        fields = (mf.get("fieldsV1") or {}).get("f:spec", {})
        if "f:gate" in fields and mf.get("time", "") >= best[0]:
            best = (mf.get("time", ""), f"{mf.get('manager', 'unknown')} ({mf.get('operation', '?')})")
    return best[1]


def _register(plural: str) -> None:
    @kopf.on.field("quantops.dev", "v1alpha1", plural, field="spec.gate", id=f"gate-{plural}")
    def gate_changed(old: Any, new: Any, body: kopf.Body, **_: Any) -> None:
        if old is None or old == new:
            return
        kind = body.get("kind", plural)
        typ = "Warning" if Gate(new).severity > Gate(old).severity else "Normal"
        reason = (
            body.get("metadata", {})
            .get("annotations", {})
            .get("quantops.dev/gate-reason", "spec.gate patched")
        )
        kopf.event(
            body,
            type=typ,
            reason=EventReason.GATE_CHANGED,
            message=f"{kind} gate {old} → {new} by {_who(body)}: {reason}",
        )


for _plural in RESOURCES:
    _register(_plural)
