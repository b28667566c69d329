"""`quantops runbook`: a Markdown runbook from live agent states — what is wrong, why, how to fix it.

Works on the `quantops up` status and on Kubernetes Agent objects (normalised to the same rows).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from quantops_api.orchestration import MISSING

FIXES: dict[str, list[str]] = {
    "WaitingForDependencies": ["Check the agents it waits for (below); they must become Ready first."],
    "DependencyCycle": ["Break the cycle: edit spec.dependsOn of one agent in the cycle and re-apply."],
    "DependencyMissing": ["Create the missing agent or remove it from spec.dependsOn."],
    "Restarting": [
        "Read the agent log for the crash; restarts back off exponentially up to backoff.maxSeconds."
    ],
    "Unhealthy": [
        "Check heartbeats (`kubectl get lease -l quantops.dev/agent=NAME`) and the agent's /readyz."
    ],
    "RecoveryHold": ["Nothing to do: the agent is healthy and returns to Ready after recoveryHoldSeconds."],
    "GateForbids": ["The effective gate is STOP. Find the scope in gateSource; flip it only after review."],
    "Starting": ["Wait for the first heartbeat; if it never comes, read the agent log."],
}


def gate_command(scope: str, kube: bool) -> str:
    kind, _, name = scope.partition("/")
    if kube:
        return f'kubectl patch {kind.lower()} {name} --type=merge -p \'{{"spec":{{"gate":"GO"}}}}\''
    return f"quantops gate {'global' if name == 'global' else f'{kind.lower()}/{name}'} GO --reason '...'"


def render(rows: list[dict[str, Any]], *, kube: bool, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    bad = [r for r in rows if not r.get("ready")]
    gated = [r for r in rows if r.get("effectiveGate") not in (None, "GO")]
    out = [
        f"# quantops runbook — {now:%Y-%m-%d %H:%M:%S} UTC",
        "",
        f"{len(rows)} agents: {len(rows) - len(bad)} ready, {len(bad)} not ready, {len(gated)} gated.",
        "",
    ]
    if not bad and not gated:
        out += ["All agents are Ready and trading gates are GO. Nothing to do.", ""]
    for r in bad:
        reason = r.get("reason") or "Unknown"
        out += [
            f"## {r['name']} ({r.get('role', '?')}): {r.get('phase', '?')} — {reason}",
            "",
            f"- Why: {r.get('message') or 'no message'}",
            f"- Restarts: {r.get('restarts', 0)}",
        ]
        if r.get("dependsOn"):
            out.append(f"- Depends on: {', '.join(r['dependsOn'])}")
        out.append("- Fix:")
        out += [f"  - {step}" for step in FIXES.get(reason, ["Inspect the agent's conditions and log."])]
        logs = f"kubectl logs deploy/{r['name']}-agent" if kube else f"less .quantops/logs/{r['name']}.log"
        out += [f"  - Logs: `{logs}`", ""]
    for (gate, source), names in gate_causes(rows).items():
        out += [
            f"## Gate {gate} from {source}: {len(names)} agent{'s' if len(names) > 1 else ''} "
            f"({', '.join(names)})",
            "",
            "- New entries are blocked while the gate is not GO.",
            *_reopen(source, kube),
            "",
        ]
    return "\n".join(out)


def gate_causes(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """(gate, source) → the agents it holds, for every agent whose effective gate is not GO: one
    cause (a global STOP) is one entry, however many agents it holds."""
    causes: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        if r.get("effectiveGate") in (None, "GO"):
            continue
        key = (str(r["effectiveGate"]), str(r.get("gateSource") or f"Agent/{r['name']}"))
        causes.setdefault(key, []).append(str(r["name"]))
    return causes


def _reopen(source: str, kube: bool) -> list[str]:
    """How to lift one gate source: patch it, or — a policy that does not exist reads PAUSE (fail
    closed) — re-create it; patching an object that is gone cannot help."""
    scope, missing = source.removesuffix(MISSING), source.endswith(MISSING)
    if not missing:
        return [f"- To reopen after review: `{gate_command(scope, kube)}`"]
    kind, _, name = scope.partition("/")
    apply = "kubectl apply -f <its manifest>" if kube else "re-apply its manifest with `quantops up -f`"
    return [
        f"- {scope} does not exist: every agent it applies to stays PAUSEd until it does.",
        f"- To reopen after review: re-create {kind} {name!r} ({apply}).",
    ]


def rows_from_kube(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for it in items:
        st = it.get("status") or {}
        ready: dict[str, Any] = next((c for c in st.get("conditions") or [] if c["type"] == "Ready"), {})
        gated: dict[str, Any] = next((c for c in st.get("conditions") or [] if c["type"] == "Gated"), {})
        rows.append(
            {
                "name": it["metadata"]["name"],
                "role": it["spec"].get("role"),
                "phase": st.get("phase"),
                "ready": ready.get("status") == "True",
                "reason": ready.get("reason"),
                "message": ready.get("message"),
                "restarts": st.get("restarts", 0),
                "dependsOn": it["spec"].get("dependsOn", []),
                "effectiveGate": st.get("effectiveGate"),
                "gateSource": (gated.get("message") or "").rpartition(" from ")[2] or None,
            }
        )
    return rows
