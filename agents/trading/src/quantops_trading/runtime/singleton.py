"""WriterLease: one pod of an agent may send orders — proven by a Lease, checked before every send.

Why: a Deployment can briefly run two pods of one trader (a rollout, a node that lost contact while
its pod still runs, a human scaling it). Two traders on the same strategies keep separate risk
books and send twice. The operator runs traders with ``Recreate`` and one replica; this lease is
the last line: a pod that does not hold it cannot send (the gateway asks :meth:`WriterLease.blocked`
right before the venue call, with no await in between).

Rules (the Kubernetes leader-election protocol, reduced to what a writer needs):
- acquire: create the Lease ``<agent>-writer`` naming this pod, or take it over once its holder
  has not renewed for ``leaseDurationSeconds`` (by the renewTime the API server stores);
- every write carries the resourceVersion read before it, so two pods racing cannot both win;
- renew every third of the duration; the lease counts as held only until ``duration - margin``
  after the last renewal *began* (a pod cut off from the API stops sending before anyone else
  may take over);
- release on graceful shutdown (the holder is cleared), so a replacement starts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from quantops_trading.runtime.control import ControlUnavailable, KubeControl

__all__ = ["WriterLease"]


def _micro(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


class WriterLease:
    def __init__(
        self,
        control: KubeControl,
        agent: str,
        holder: str,
        *,
        duration_seconds: int = 15,
        margin_seconds: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.control, self.holder = control, holder
        self.name = f"{agent}-writer"[:63]
        self.duration, self.margin = duration_seconds, margin_seconds
        self.clock, self.wall = clock, wall
        self._valid_until: float | None = None
        self.last_error = ""
        self.holder_seen = ""  # who holds it when we do not
        self.transitions = 0

    @property
    def _path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.control.namespace}/leases/{self.name}"

    def blocked(self) -> str | None:
        """None while this pod holds the lease; else why it may not send."""
        if self._valid_until is not None and self.clock() < self._valid_until:
            return None
        if self.holder_seen and self.holder_seen != self.holder:
            return f"writer lease {self.name} is held by {self.holder_seen}"
        return f"writer lease {self.name} not held ({self.last_error or 'not acquired yet'})"

    def _spec(self, now: dt.datetime, acquire: bool, transitions: int) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration,
            "renewTime": _micro(now),
        }
        if acquire:
            spec |= {"acquireTime": _micro(now), "leaseTransitions": transitions}
        return spec

    async def try_acquire(self) -> bool:
        """One round: create, renew or take over. True when this pod holds the lease now."""
        started = self.clock()
        now = self.wall()
        try:
            r = await self.control.request("GET", self._path)
            if r.status_code == 404:
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.control.namespace},
                    "spec": self._spec(now, True, 0),
                }
                r = await self.control.request("POST", self._path.rsplit("/", 1)[0], content=json.dumps(body))
                return self._settle(r, started, "create")
            if r.status_code >= 400:
                self.last_error = f"get: HTTP {r.status_code}"
                return False
            lease = r.json()
            spec = lease.get("spec") or {}
            holder = str(spec.get("holderIdentity") or "")
            self.transitions = int(spec.get("leaseTransitions") or 0)
            if holder and holder != self.holder:
                renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
                ttl = float(spec.get("leaseDurationSeconds") or self.duration)
                if renewed is not None and (now - renewed).total_seconds() < ttl:
                    self.holder_seen, self.last_error = holder, f"held by {holder}"
                    self._valid_until = None
                    return False
            take = holder != self.holder
            spec = (
                self._spec(now, True, self.transitions + (1 if holder else 0))
                if take
                else {"renewTime": _micro(now), "leaseDurationSeconds": self.duration}  # a renewal
            )
            patch = {"metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]}, "spec": spec}
            r = await self.control.request(
                "PATCH",
                self._path,
                content=json.dumps(patch),
                headers={"Content-Type": "application/merge-patch+json"},
            )
            return self._settle(r, started, "take over" if take else "renew")
        except ControlUnavailable as e:
            self.last_error = str(e)
            return self.blocked() is None

    def _settle(self, r: Any, started: float, what: str) -> bool:
        if r.status_code < 300:
            self._valid_until = started + self.duration - self.margin
            self.holder_seen, self.last_error = self.holder, ""
            return True
        # 409: someone else wrote first (a race) — not ours; keep whatever validity we had left
        self.last_error = f"{what}: HTTP {r.status_code}"
        if r.status_code == 409:
            self._valid_until = None
        return self.blocked() is None

    async def run(self, stopping: asyncio.Event) -> None:
        """Acquire, then keep renewing until ``stopping``; then release."""
        try:
            while not stopping.is_set():
                await self.try_acquire()
                wait = self.duration / 3 if self.blocked() is None else 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), wait)
        finally:
            await self.release()

    async def release(self) -> None:
        """Clear the holder if it is still us (a replacement need not wait out the duration)."""
        if self._valid_until is None:
            return
        self._valid_until = None
        with contextlib.suppress(ControlUnavailable, KeyError, ValueError):
            r = await self.control.request("GET", self._path)
            if r.status_code >= 300 or (r.json().get("spec") or {}).get("holderIdentity") != self.holder:
                return
            patch = {
                "metadata": {"resourceVersion": r.json()["metadata"]["resourceVersion"]},
                "spec": {"holderIdentity": None},
            }
            await self.control.request(
                "PATCH",
                self._path,
                content=json.dumps(patch),
                headers={"Content-Type": "application/merge-patch+json"},
            )

    def describe(self) -> dict[str, Any]:
        return {
            "lease": self.name,
            "holder": self.holder,
            "held": self.blocked() is None,
            "why": self.blocked(),
        }
