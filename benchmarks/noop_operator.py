"""Baseline for bench_operator.py: a kopf operator whose handlers do nothing but note the time.

Run as `kopf run --standalone -n NS benchmarks/noop_operator.py`. It measures kopf's own floor on
the same control plane: how fast a do-nothing handler sees N new objects and a gate patch.
"""

from __future__ import annotations

import json
import time
from typing import Any

import kopf


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False
    # the same kopf settings as quantops_operator.settings (no worker limit), so the floor is comparable


@kopf.on.create("quantops.dev", "v1alpha1", "agents")
def agent_created(name: str, **_: Any) -> None:
    print(json.dumps({"event": "created", "name": name, "at": time.time()}), flush=True)


@kopf.on.field("quantops.dev", "v1alpha1", "riskpolicies", field="spec.gate")
def gate_seen(new: Any, **_: Any) -> None:
    print(json.dumps({"event": "gate", "gate": new, "at": time.time()}), flush=True)
