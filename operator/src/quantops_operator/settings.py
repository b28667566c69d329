"""Operator settings: annotation progress storage with the project prefix, event posting, resync."""

from __future__ import annotations

import os
from typing import Any

import kopf

from quantops_operator.kube import Kube
from quantops_operator.resources.deployments import DEFAULT_IMAGE, StateVolume

RESYNC_SECONDS = float(os.environ.get("QUANTOPS_RESYNC_SECONDS", "10"))
AGENT_IMAGE = os.environ.get("QUANTOPS_AGENT_IMAGE", DEFAULT_IMAGE)
STATE_VOLUME = StateVolume.from_env()
"""$QUANTOPS_STATE_PERSISTENT / _STORAGE_CLASS / _SIZE: the chart's agent.state values."""


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="quantops.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="quantops.dev", key="last-handled-configuration"
    )
    settings.posting.level = 20  # INFO and above become Kubernetes Events
    settings.watching.server_timeout = 300
    settings.queueing.worker_limit = 50
    memo["kube"] = await Kube.connect()
    memo["locks"] = {}  # per-Agent reconcile locks, shared by every handler's copy of the memo


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    kube = memo.get("kube")
    if kube is not None:
        await kube.close()
