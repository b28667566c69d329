"""Pure Strategy status: fingerprint, applicable RiskPolicies, effective gate and its change event."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from quantops_api import Gate, Stage, Strategy, StrategyStatus
from quantops_api.meta import get_condition
from quantops_operator.reconcile.strategy import (
    POLICY_OWNED,
    STRATEGY_INITIAL,
    STRATEGY_OWNED,
    PolicyView,
    applicable_policies,
    fingerprint,
    owned_status_patch,
    policy_status,
    strategy_status,
)

T0 = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def make_strategy(
    labels: dict[str, str] | None = None, status: StrategyStatus | None = None, **spec: Any
) -> Strategy:
    body: dict[str, Any] = {
        "apiVersion": "quantops.dev/v1alpha1",
        "kind": "Strategy",
        "metadata": {"name": "s", "uid": "u-s", "generation": 2, "labels": labels or {}},
        "spec": {"entrypoint": "strats.momentum:Momentum", "pairs": ["BTC/USDT"], **spec},
    }
    s = Strategy.model_validate(body)
    return s.model_copy(update={"status": status}) if status is not None else s


def test_fingerprint_stable() -> None:
    a = make_strategy(params={"fast": 5, "slow": 20, "nested": {"x": 1, "y": [1, 2]}})
    b = make_strategy(params={"nested": {"y": [1, 2], "x": 1}, "slow": 20, "fast": 5})
    assert fingerprint(a) == fingerprint(b) == fingerprint(a)
    assert len(fingerprint(a)) == 16
    # pairs, venues and gate are not part of the code identity
    c = make_strategy(
        params={"fast": 5, "slow": 20, "nested": {"x": 1, "y": [1, 2]}}, pairs=["ETH/USDT"], gate="STOP"
    )
    assert fingerprint(c) == fingerprint(a)


@pytest.mark.parametrize(
    "change",
    [{"params": {"fast": 6, "slow": 20}}, {"params": {"fast": 5}}, {"entrypoint": "strats.momentum:Other"}],
)
def test_fingerprint_sensitive_to_params_and_entrypoint(change: dict[str, Any]) -> None:
    base = make_strategy(params={"fast": 5, "slow": 20})
    assert fingerprint(make_strategy(**{"params": {"fast": 5, "slow": 20}, **change})) != fingerprint(base)


POLICIES = [
    PolicyView("global", Gate.GO, {}),
    PolicyView("desk-a", Gate.CHECK, {}),
    PolicyView("crypto", Gate.PAUSE, {"asset": "crypto"}),
    PolicyView("fx", Gate.STOP, {"asset": "fx"}),
    PolicyView("multi", Gate.GO, {"asset": "crypto", "tier": "1"}),
]


def test_applicable_policies_by_ref_selector_and_global() -> None:
    s = make_strategy(labels={"asset": "crypto"}, riskPolicyRef="desk-a")
    assert [p.name for p in applicable_policies(s, POLICIES)] == ["global", "desk-a", "crypto"]


def test_applicable_policies_selector_needs_every_label() -> None:
    s = make_strategy(labels={"asset": "crypto", "tier": "1"})
    assert [p.name for p in applicable_policies(s, POLICIES)] == ["global", "crypto", "multi"]


def test_applicable_policies_empty_selector_matches_nothing_but_global() -> None:
    s = make_strategy(labels={"asset": "equity"})
    assert [p.name for p in applicable_policies(s, POLICIES)] == ["global"]
    assert applicable_policies(s, []) == []


def test_strategy_status_resolved_defaults_to_cold() -> None:
    s = make_strategy(labels={"asset": "crypto"})
    status, event = strategy_status(s, POLICIES, T0)
    assert status.stage is Stage.COLD
    assert status.fingerprint == fingerprint(s)
    assert status.effective_gate is Gate.PAUSE
    assert status.observed_generation == 2
    assert status.rejection_count == 0
    ready = get_condition(status.conditions, "Ready")
    assert ready is not None and (ready.status, ready.reason) == ("True", "Resolved")
    gated = get_condition(status.conditions, "Gated")
    assert gated is not None and (gated.status, gated.reason) == ("True", "GatePause")
    assert "RiskPolicy/crypto" in gated.message
    assert event == ""  # no previous gate


def test_strategy_status_keeps_existing_stage() -> None:
    s = make_strategy(status=StrategyStatus(stage=Stage.WARM, effective_gate=Gate.GO))
    status, _ = strategy_status(s, POLICIES, T0)
    assert status.stage is Stage.WARM


def test_strategy_status_risk_policy_not_found() -> None:
    s = make_strategy(riskPolicyRef="nope")
    status, _ = strategy_status(s, POLICIES, T0)
    ready = get_condition(status.conditions, "Ready")
    assert ready is not None
    assert (ready.status, ready.reason) == ("False", "RiskPolicyNotFound")
    assert "'nope'" in ready.message
    # and its gate is PAUSE, as the trader reads a missing policy (fail closed), naming it
    assert status.effective_gate is Gate.PAUSE
    gated = get_condition(status.conditions, "Gated")
    assert gated is not None and gated.message.endswith("from RiskPolicy/nope (missing)")


def test_a_missing_global_policy_pauses_every_strategy() -> None:
    s = make_strategy(labels={"asset": "equity"})
    status, _ = strategy_status(s, [p for p in POLICIES if p.name != "global"], T0)
    assert status.effective_gate is Gate.PAUSE
    gated = get_condition(status.conditions, "Gated")
    assert gated is not None and gated.message.endswith("from RiskPolicy/global (missing)")


def test_strategy_status_gate_change_event_text() -> None:
    s = make_strategy(labels={"asset": "fx"}, status=StrategyStatus(effective_gate=Gate.GO))
    status, event = strategy_status(s, POLICIES, T0)
    assert status.effective_gate is Gate.STOP
    assert event == "GO → STOP (most restrictive scope: RiskPolicy/fx)"
    # the strategy's own gate is a scope too
    own = make_strategy(gate="CHECK", status=StrategyStatus(effective_gate=Gate.GO))
    _, ev = strategy_status(own, [PolicyView("global", Gate.GO, {})], T0)
    assert ev == "GO → CHECK (most restrictive scope: Strategy/s)"


def test_strategy_status_no_event_when_gate_unchanged_and_idempotent() -> None:
    s = make_strategy(labels={"asset": "crypto"})
    first, _ = strategy_status(s, POLICIES, T0)
    second, event = strategy_status(
        s.model_copy(update={"status": first}), POLICIES, T0 + dt.timedelta(seconds=5)
    )
    assert event == ""
    assert second == first  # conditions keep their lastTransitionTime


def test_operator_status_patch_never_reverts_what_the_pipeline_wrote() -> None:
    """The operator's view is stale: the pipeline demoted HOT → WARM after the operator read it."""
    stale = make_strategy(status=StrategyStatus(stage=Stage.HOT, effective_gate=Gate.GO))
    status, _ = strategy_status(stale, POLICIES, T0)
    demotion = {"fromStage": "HOT", "toStage": "WARM", "reason": "loss", "at": "2030"}
    live = {"stage": "WARM", "rejectionCount": 3, "evidence": {"decision": {"reason": "realised loss"}},
            "transitions": [demotion]}  # fmt: skip
    patch = owned_status_patch(status.to_wire(), live, STRATEGY_OWNED, STRATEGY_INITIAL)
    assert set(patch) == {"conditions", "effectiveGate", "observedGeneration", "fingerprint"}
    assert not {"stage", "rejectionCount", "evidence", "transitions"} & set(patch)
    # a fresh Strategy gets its initial stage; an unchanged one gets no patch at all
    fresh = owned_status_patch(status.to_wire(), {}, STRATEGY_OWNED, STRATEGY_INITIAL)
    assert fresh["stage"] == "HOT" and fresh["rejectionCount"] == 0 and "evidence" not in fresh
    done = {**live, **patch}
    assert owned_status_patch(status.to_wire(), done, STRATEGY_OWNED, STRATEGY_INITIAL) == {}


def test_operator_policy_patch_keeps_the_trader_s_budget_report() -> None:
    raw = {"effectiveGate": "GO", "lastBudgetChange": {"reason": "rebalance", "at": "2030"}}
    new = policy_status(None, Gate.PAUSE, 3, T0).to_wire()
    patch = owned_status_patch(new, raw, POLICY_OWNED)
    assert patch["effectiveGate"] == "PAUSE" and "lastBudgetChange" not in patch
