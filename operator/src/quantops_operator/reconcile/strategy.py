"""Pure Strategy/RiskPolicy status: resolution of references, effective gate, fingerprint, stage."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from quantops_api import Condition, Gate, RiskPolicyStatus, Stage, Strategy, StrategyStatus
from quantops_api.meta import set_condition
from quantops_api.orchestration import effective_gate, policy_scope
from quantops_api.v1alpha1.conditions import ConditionType, Reason


@dataclass(frozen=True)
class PolicyView:
    name: str
    gate: Gate
    selector: dict[str, str]


def fingerprint(strategy: Strategy) -> str:
    """Code entrypoint + params hash: the identity every run, promotion and order carries."""
    canon = json.dumps(
        {"entrypoint": strategy.spec.entrypoint, "params": strategy.spec.params}, sort_keys=True
    )
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def applicable_policies(strategy: Strategy, policies: list[PolicyView]) -> list[PolicyView]:
    labels = strategy.metadata.labels
    out = []
    for p in policies:
        by_ref = p.name == strategy.spec.risk_policy_ref
        by_selector = bool(p.selector) and all(labels.get(k) == v for k, v in p.selector.items())
        if p.name == "global" or by_ref or by_selector:
            out.append(p)
    return out


def strategy_status(
    strategy: Strategy, policies: list[PolicyView], now: dt.datetime
) -> tuple[StrategyStatus, str]:
    """The new status and, when the effective gate moved, an event message (else "")."""
    old = strategy.status or StrategyStatus()
    gen = strategy.metadata.generation
    mine = applicable_policies(strategy, policies)
    scopes: dict[str, Gate | str | None] = {
        f"RiskPolicy/{p.name}": p.gate for p in sorted(mine, key=lambda p: p.name)
    }
    ref = strategy.spec.risk_policy_ref
    known = {p.name for p in policies}
    for name in sorted({"global", ref or "global"} - known):  # as the agents read them: PAUSE
        scope, g = policy_scope(name, None)
        scopes[scope] = g
    scopes[f"Strategy/{strategy.name}"] = strategy.spec.gate
    gate = effective_gate(scopes)
    if ref is not None and ref not in {p.name for p in policies}:
        ready = Condition(
            type=ConditionType.READY,
            status="False",
            reason=Reason.RISK_POLICY_NOT_FOUND,
            message=f"riskPolicyRef {ref!r} does not exist; trading is not allowed",
            last_transition_time=now,
            observed_generation=gen,
        )
    else:
        ready = Condition(
            type=ConditionType.READY,
            status="True",
            reason=Reason.RESOLVED,
            message=f"policies: {', '.join(p.name for p in mine) or 'none'}",
            last_transition_time=now,
            observed_generation=gen,
        )
    conds = set_condition(old.conditions, ready)
    conds = set_condition(
        conds,
        Condition(
            type=ConditionType.GATED,
            status="True" if gate.gate is not Gate.GO else "False",
            reason=Reason.for_gate(gate.gate),
            message=f"effective gate {gate.gate} from {gate.source}",
            last_transition_time=now,
            observed_generation=gen,
        ),
    )
    event = ""
    if old.effective_gate is not None and old.effective_gate != gate.gate:
        event = f"{old.effective_gate} → {gate.gate} (most restrictive scope: {gate.source})"
    status = old.model_copy(
        update={
            "conditions": conds,
            "effective_gate": gate.gate,
            "observed_generation": gen,
            "stage": old.stage or Stage.COLD,
            "fingerprint": fingerprint(strategy),
            "rejection_count": old.rejection_count or 0,
        }
    )
    return status, event


STRATEGY_OWNED = ("conditions", "effectiveGate", "observedGeneration", "fingerprint")
STRATEGY_INITIAL = ("stage", "rejectionCount")
POLICY_OWNED = ("conditions", "effectiveGate", "observedGeneration")


def owned_status_patch(
    new: dict[str, Any], raw: dict[str, Any], owned: tuple[str, ...], initial: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The status merge patch the operator may send: only the fields it owns that changed, plus
    ``initial`` fields while still unset.

    Why: the status is shared — the pipeline writes ``stage``, ``transitions`` and ``evidence`` on
    Strategies, the trader ``lastBudgetChange`` on RiskPolicies. The operator's view of the object
    can be stale; patching every field from it would silently revert a pipeline demotion or a budget
    report written in between. So it never sends a field it does not own once that field is set.
    """
    out = {k: new[k] for k in owned if k in new and new[k] != raw.get(k)}
    out.update({k: new[k] for k in initial if raw.get(k) is None and new.get(k) is not None})
    return out


def policy_status(
    old: RiskPolicyStatus | None, gate: Gate, gen: int | None, now: dt.datetime
) -> RiskPolicyStatus:
    base = old or RiskPolicyStatus()
    conds = set_condition(
        base.conditions,
        Condition(
            type=ConditionType.READY,
            status="True",
            reason=Reason.ACCEPTED,
            message="limits validated",
            last_transition_time=now,
            observed_generation=gen,
        ),
    )
    return base.model_copy(update={"conditions": conds, "effective_gate": gate, "observed_generation": gen})
