"""One-command rollback of a Strategy to its previous spec version (roadmap 99).

Why it exists: when a new strategy version or parameter set misbehaves, the fix at 3 a.m. must be
one command that restores exactly what ran before — not a hunt through git for the old manifest.

Locally the history is ``<state>/strategies/<name>.jsonl``: one line per distinct spec
(``version``, ``at``, ``fingerprint`` = sha256 of the canonical spec JSON, ``spec`` in wire form,
``reason``). ``quantops up`` records the manifests' Strategy specs at start (:func:`record`). A
rollback appends the restored spec as a *new* version (``restores``, ``manifestFingerprint``), so
history is never rewritten and a rollback is itself auditable; it also writes
``<state>/strategies/<name>.restored.json`` and an audit line ``StrategyRolledBack``. While the
manifest on disk is still the version that was rolled back from, ``up`` runs the restored spec
(:func:`apply_history`); editing the manifest (a new fingerprint) makes the manifest win again.

On Kubernetes the history lives on the object itself, in the annotation ``quantops.dev/spec-history``
(JSON list, newest last, at most :data:`KEEP` entries): it travels with the object, needs no extra
RBAC beyond patching Strategies, and disappears with it. ``--record`` appends the live spec (run it
after each ``kubectl apply``); the rollback records the spec it replaces, then replaces ``/spec``
with a JSON patch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from quantops_api import Strategy
from quantops_api.meta import CustomResource

__all__ = [
    "HISTORY_ANNOTATION",
    "KEEP",
    "RollbackError",
    "apply_history",
    "fingerprint",
    "record",
    "rollback_kube",
]

HISTORY_ANNOTATION = "quantops.dev/spec-history"
KEEP = 10


class RollbackError(Exception):
    pass


def fingerprint(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _path(state_dir: Path, name: str) -> Path:
    return state_dir / "strategies" / f"{name}.jsonl"


def versions(state_dir: Path, name: str) -> list[dict[str, Any]]:
    p = _path(state_dir, name)
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.exists() else []


def _append(state_dir: Path, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    p = _path(state_dir, name)
    p.parent.mkdir(parents=True, exist_ok=True)
    entry = {"version": len(versions(state_dir, name)) + 1, "at": _now(), **entry}
    with p.open("a") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
    return entry


def _spec(obj: CustomResource) -> dict[str, Any]:
    spec: dict[str, Any] = obj.to_wire()["spec"]
    return spec


def record(state_dir: Path, objects: list[CustomResource], reason: str = "quantops up") -> list[str]:
    """Append each Strategy's spec when it differs from its latest version; returns the names."""
    changed = []
    for obj in objects:
        if isinstance(obj, Strategy):
            spec = _spec(obj)
            fp = fingerprint(spec)
            vs = versions(state_dir, obj.name)
            if not vs or vs[-1]["fingerprint"] != fp:
                _append(state_dir, obj.name, {"fingerprint": fp, "spec": spec, "reason": reason})
                changed.append(obj.name)
    return changed


def apply_history(state_dir: Path, objects: list[CustomResource]) -> list[CustomResource]:
    """Objects with rolled-back Strategies replaced by their restored spec (see the module doc)."""
    out: list[CustomResource] = []
    for obj in objects:
        vs = versions(state_dir, obj.name) if isinstance(obj, Strategy) else []
        if vs and "restores" in vs[-1] and vs[-1].get("manifestFingerprint") == fingerprint(_spec(obj)):
            wire = obj.to_wire()
            obj = Strategy.from_wire({**wire, "spec": vs[-1]["spec"]})
        out.append(obj)
    return out


def rollback_local(state_dir: Path, name: str, reason: str = "quantops rollback") -> dict[str, Any]:
    vs = versions(state_dir, name)
    if not vs:
        raise RollbackError(
            f"strategy {name!r}: no history in {_path(state_dir, name)} (run `quantops up` first)"
        )
    cur = vs[-1]
    start = int(cur["restores"]) - 1 if "restores" in cur else len(vs) - 1  # 1-based version → index
    prev = next((v for v in reversed(vs[:start]) if v["fingerprint"] != cur["fingerprint"]), None)
    if prev is None:
        raise RollbackError(f"strategy {name!r}: no earlier version than v{cur['version']} to roll back to")
    entry = _append(
        state_dir,
        name,
        {
            "fingerprint": prev["fingerprint"],
            "spec": prev["spec"],
            "reason": f"{reason}: v{cur['version']} → v{prev['version']}",
            "restores": prev["version"],
            "rolledBackFrom": cur["version"],
            "manifestFingerprint": cur.get("manifestFingerprint", cur["fingerprint"]),
        },
    )
    manifest = {"apiVersion": "quantops.dev/v1alpha1", "kind": "Strategy", "metadata": {"name": name}}
    restored = _path(state_dir, name).with_suffix(".restored.json")
    restored.write_text(json.dumps({**manifest, "spec": prev["spec"]}, indent=2))
    audit = {
        "at": _now(),
        "event": "StrategyRolledBack",
        "strategy": name,
        "fromVersion": cur["version"],
        "toVersion": prev["version"],
        "newVersion": entry["version"],
        "reason": reason,
        "who": "cli",
    }
    fd = os.open(state_dir / "audit.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(audit) + "\n").encode())
    finally:
        os.close(fd)
    return {**audit, "restoredManifest": str(restored), "spec": prev["spec"]}


# -- Kubernetes ---------------------------------------------------------------------------------------
def _kubectl(kubectl: str, ns: str, *args: str, stdin: str | None = None) -> str:
    res = subprocess.run([kubectl, "-n", ns, *args], input=stdin, capture_output=True, text=True)
    if res.returncode != 0:
        raise RollbackError(f"kubectl {' '.join(args[:3])}: {res.stderr.strip()}")
    return res.stdout


def _history_patch(obj: dict[str, Any], history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    if not obj["metadata"].get("annotations"):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    path = "/metadata/annotations/" + HISTORY_ANNOTATION.replace("~", "~0").replace("/", "~1")
    ops.append({"op": "add", "path": path, "value": json.dumps(history[-KEEP:], separators=(",", ":"))})
    return ops


def _versioned(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give entries written before versions existed a version number by position."""
    out, last = [], 0
    for h in history:
        last = int(h.get("version", last + 1))
        out.append({**h, "version": last})
    return out


def rollback_kube(
    kubectl: str, ns: str, name: str, *, record_only: bool = False, reason: str = ""
) -> dict[str, Any]:
    """``--record``: append the live spec to the history. Otherwise restore the version before it.

    Like the local history, a rollback appends the restored spec as a new version with ``restores``
    (the version it brought back) and ``rolledBackFrom``, so rolling back twice walks further back
    (v3 → v2 → v1) instead of flipping between the last two versions.
    """
    obj = json.loads(_kubectl(kubectl, ns, "get", "strategies.quantops.dev", name, "-o", "json"))
    raw = (obj["metadata"].get("annotations") or {}).get(HISTORY_ANNOTATION, "[]")
    try:
        history = _versioned(json.loads(raw))
    except (ValueError, TypeError, AttributeError) as e:
        raise RollbackError(f"strategy {ns}/{name}: metadata.annotations[{HISTORY_ANNOTATION}]: {e}") from e
    cur = obj["spec"]
    fp = fingerprint(cur)
    gen = obj["metadata"].get("generation")
    if not history or history[-1]["fingerprint"] != fp:
        version = history[-1]["version"] + 1 if history else 1
        why = "recorded" if record_only else "recorded before rollback"
        history.append(
            {
                "version": version,
                "fingerprint": fp,
                "spec": cur,
                "at": _now(),
                "generation": gen,
                "reason": why,
            }
        )
    prev = None
    if not record_only:
        last = history[-1]
        older = history[:-1]
        if "restores" in last:  # the live spec is itself a rollback: look before what it restored
            older = [h for h in history if h["version"] < int(last["restores"])]
        prev = next((h for h in reversed(older) if h["fingerprint"] != fp), None)
        if prev is None:
            raise RollbackError(
                f"strategy {ns}/{name}: no earlier spec than v{last['version']} in {HISTORY_ANNOTATION} "
                "(run `quantops rollback strategy NAME --kube --record` after each apply)"
            )
        why = reason or "quantops rollback"
        history.append(
            {
                "version": last["version"] + 1,
                "fingerprint": prev["fingerprint"],
                "spec": prev["spec"],
                "at": _now(),
                "reason": f"{why}: v{last['version']} → v{prev['version']}",
                "restores": prev["version"],
                "rolledBackFrom": last["version"],
            }
        )
    ops = _history_patch(obj, history)
    if prev is not None:
        ops.append({"op": "replace", "path": "/spec", "value": prev["spec"]})
        reason_path = "/metadata/annotations/quantops.dev~1rollback-reason"
        ops.append({"op": "add", "path": reason_path, "value": history[-1]["reason"]})
    _kubectl(kubectl, ns, "patch", "strategies.quantops.dev", name, "--type=json", "-p", json.dumps(ops))
    return {
        "strategy": name,
        "namespace": ns,
        "recorded": fp,
        "restored": prev["fingerprint"] if prev else None,
        "fromVersion": history[-1].get("rolledBackFrom"),
        "toVersion": prev["version"] if prev else None,
        "spec": prev["spec"] if prev else cur,
    }
