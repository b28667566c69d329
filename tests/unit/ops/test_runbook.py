"""`quantops runbook` from Kubernetes Agent objects: one section per gate cause, the right fix."""

from __future__ import annotations

from typing import Any

from quantops_local.runbook import render, rows_from_kube


def _agent(name: str, gate: str, source: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"role": "trader"},
        "status": {
            "phase": "Running",
            "effectiveGate": gate,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Healthy"},
                {"type": "Gated", "status": "True", "message": f"effective gate {gate} from {source}"},
            ],
        },
    }


def test_one_section_per_gate_source_naming_every_agent_it_holds() -> None:
    rows = rows_from_kube(
        [_agent(n, "STOP", "RiskPolicy/global") for n in ("trader", "canary", "pipeline")]
        + [_agent("feed", "PAUSE", "Agent/feed")]
    )
    text = render(rows, kube=True)
    assert text.count("## Gate STOP from RiskPolicy/global: 3 agents (trader, canary, pipeline)") == 1
    assert "## Gate PAUSE from Agent/feed: 1 agent (feed)" in text
    assert text.count("kubectl patch riskpolicy global") == 1


def test_a_missing_policy_is_re_created_not_patched() -> None:
    """The operator names a policy that does not exist "RiskPolicy/global (missing)" (it reads
    PAUSE, as the agents read it): patching an object that is gone cannot lift it."""
    rows = rows_from_kube([_agent(n, "PAUSE", "RiskPolicy/global (missing)") for n in ("trader", "canary")])
    text = render(rows, kube=True)
    section = text.split("## Gate PAUSE from RiskPolicy/global (missing): 2 agents (trader, canary)")[1]
    assert "RiskPolicy/global does not exist" in section
    assert "re-create RiskPolicy 'global' (kubectl apply -f <its manifest>)" in section
    assert "kubectl patch" not in section
