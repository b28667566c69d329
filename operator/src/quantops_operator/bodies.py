"""kopf bodies → the plain dict the API models parse (no managedFields, status None when empty)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def model_input(body: Mapping[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "spec": dict(body["spec"]),
        "status": dict(body.get("status") or {}) or None,
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "generation": meta.get("generation"),
            "labels": dict(meta.get("labels") or {}),
        },
    }
