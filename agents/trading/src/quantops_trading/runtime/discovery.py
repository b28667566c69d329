"""Where an agent finds the venue: through the control plane it runs under, never a guess.

- ``spec.config.venueUrl`` names it directly (a real venue, or a test's simulator).
- Under ``quantops up`` the local supervisor lists the agents; the venue-sim agent's own
  ``/status`` carries the URL it listens on.
- On Kubernetes the venue-sim Agent's Service (port ``venue``) is read from the API: its ClusterIP
  works with or without cluster DNS (kind has DNS; a bare kubelet node may not).

``spec.config.venueAgent`` picks one venue-sim agent; default: the first by name. Discovery waits
(re-trying every half second) until the venue is known or the agent stops; it never returns a
URL nobody published.

Keys go only where they belong (:meth:`Venue.refuses_keys`): to a discovered venue-sim agent, to
a simulator on loopback, or over https to a host ``spec.config.venueHosts`` allows — never over
plain http across a network, never to a host nobody allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import httpx

from quantops_trading.runtime.control import Control, ControlUnavailable, KubeControl

__all__ = ["VENUE_PORT_NAME", "Venue", "discover_venue"]

VENUE_PORT_NAME = "venue"
"""The venue-sim Service's port name (quantops_operator.resources.deployments)."""


@dataclass(frozen=True)
class Venue:
    url: str
    name: str  # the venue's own name (VenueConfig.name), which instrument ids carry
    agent: str = ""  # the venue-sim agent serving it, when discovered

    def refuses_keys(self, allowed_hosts: Sequence[str]) -> str | None:
        """Why exchange keys must not be sent to this venue, or None when they may."""
        if self.agent:
            return None  # a venue-sim agent of this platform, found through its control plane
        parts = urlsplit(self.url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "http" and _loopback(host):
            return None  # a simulator on this machine
        if parts.scheme == "https" and host in {h.lower() for h in allowed_hosts}:
            return None
        return (
            f"venueUrl {parts.scheme}://{host}: exchange keys go only over https to a host in "
            f"spec.config.venueHosts ({', '.join(allowed_hosts) or 'none allowed'}), or to a "
            "discovered venue-sim or a loopback simulator"
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def discover_venue(
    control: Control,
    *,
    url: str = "",
    name: str = "",
    want: str | None = None,
    control_url: str = "",
    stopping: asyncio.Event | None = None,
    retry_seconds: float = 0.5,
) -> Venue | None:
    """The venue to trade on; None if none is configured or found before ``stopping`` is set."""
    if url:
        return Venue(url, name or "venue")
    stopping = stopping or asyncio.Event()
    while not stopping.is_set():
        found: Venue | None = None
        if isinstance(control, KubeControl):
            with contextlib.suppress(ControlUnavailable, httpx.HTTPError, KeyError, ValueError):
                found = await _from_kube(control, want)
        elif control_url:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, KeyError, ValueError):
                found = await _from_supervisor(control_url, want)
        else:
            return None  # nothing to ask: not configured
        if found is not None:
            return found
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), retry_seconds)
    return None


async def _from_supervisor(control_url: str, want: str | None) -> Venue | None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
        async with http.get(f"{control_url}/api/status") as r:
            agents = (await r.json())["agents"]
        venues = sorted((a for a in agents if a["role"] == "venue-sim"), key=lambda a: str(a["name"]))
        a = next((v for v in venues if want in (None, v["name"])), None)
        if a is None or not a["port"]:
            return None
        async with http.get(f"http://127.0.0.1:{a['port']}/status") as r:
            work = (await r.json())["work"]
    url = str(work.get("venueUrl", ""))
    return Venue(url, str(work.get("venue", a["name"])), str(a["name"])) if url else None


async def _from_kube(control: KubeControl, want: str | None) -> Venue | None:
    ns = control.namespace
    r = await control.request("GET", f"/apis/quantops.dev/v1alpha1/namespaces/{ns}/agents")
    if r.status_code >= 400:
        raise ControlUnavailable(f"list agents: HTTP {r.status_code}")
    agents = sorted(
        (a for a in r.json()["items"] if a["spec"].get("role") == "venue-sim"),
        key=lambda a: str(a["metadata"]["name"]),
    )
    agent = next((a for a in agents if want in (None, a["metadata"]["name"])), None)
    if agent is None:
        return None
    aname = str(agent["metadata"]["name"])
    r = await control.request("GET", f"/api/v1/namespaces/{ns}/services/{aname}-agent")
    if r.status_code == 404:
        return None  # the operator has not created it yet
    if r.status_code >= 400:
        raise ControlUnavailable(f"get service {aname}-agent: HTTP {r.status_code}")
    svc = r.json()["spec"]
    ip = svc.get("clusterIP")
    port = next((p["port"] for p in svc.get("ports", []) if p.get("name") == VENUE_PORT_NAME), None)
    if not ip or ip == "None" or port is None:
        return None
    venue_name = str(((agent["spec"].get("config") or {}).get("venue") or {}).get("name") or aname)
    return Venue(f"http://{ip}:{port}", venue_name, aname)
