"""Operator settings: annotation progress storage with the project prefix, event posting, resync."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import kopf

from quantops_operator.kube import Kube
from quantops_operator.resources.deployments import DEFAULT_IMAGE, StateVolume

RESYNC_SECONDS = float(os.environ.get("QUANTOPS_RESYNC_SECONDS", "10"))
CONTACT_SECONDS = 1.0
"""How often the API server is pinged: an outage is noticed within this (Kube.contact_since)."""
AGENT_IMAGE = os.environ.get("QUANTOPS_AGENT_IMAGE", DEFAULT_IMAGE)
STATE_VOLUME = StateVolume.from_env()
"""$QUANTOPS_STATE_PERSISTENT / _STORAGE_CLASS / _SIZE: the chart's agent.state values."""


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="quantops.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="quantops.dev", key="last-handled-configuration"
    )
    # Kubernetes Events: the operator's own (kopf.event: restarts, gate changes, invalid specs) and
    # kopf's warnings and errors. Not kopf's INFO lines ("Handler 'agent_resync' succeeded."): as
    # Events they were one POST per handler, index and timer run — 50/s for 500 Agents at rest.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    # No queueing.worker_limit: kopf holds every worker of an initial listing until all indexes are
    # filled, so a limit below the number of indexed objects (50 with 51 Agents) deadlocked startup.
    kube = await Kube.connect()
    memo["kube"] = kube
    memo["contact"] = asyncio.create_task(kube.keep_contact(CONTACT_SECONDS), name="api-contact")
    memo["locks"] = {}  # per-Agent reconcile locks, shared by every handler's copy of the memo
    memo["statuses"] = {}  # per-Agent status as last computed (controllers.agent.reconcile_agent)
    memo["queued"] = set()  # Agents with a resync/child reconcile waiting for their lock


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    contact = memo.get("contact")
    if contact is not None:
        contact.cancel()
    kube = memo.get("kube")
    if kube is not None:
        await kube.close()
