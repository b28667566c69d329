"""Network self-check before any feed operation (roadmap 4).

Why it exists: a feed that starts without connectivity produces gaps that look like a quiet market.
Before a feed starts, every configured venue is probed in three steps, each with a timeout:
DNS (``getaddrinfo``), TCP (connect to the resolved port) and HTTP (a GET of the base URL; any HTTP
answer below 500 proves the path). The result is GO or NO_GO with a reason naming the venue and step
that failed; feeds must not start on NO_GO (the trader waits on it before loading markets).

What it must not do: retry forever or block the event loop. Steps are bounded by ``timeout_s``;
:func:`acheck_network` runs the blocking probes in a thread for async callers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from quantops_trading.config.schema import NetworkSection, VenueEndpoint

__all__ = [
    "NetworkCheckResult",
    "StepResult",
    "VenueStatus",
    "acheck_network",
    "check_configured",
    "check_network",
    "probe_venue",
]

Verdict = Literal["GO", "NO_GO"]


@dataclass(frozen=True)
class StepResult:
    ok: bool
    detail: str
    elapsed_ms: float


@dataclass(frozen=True)
class VenueStatus:
    name: str
    url: str
    dns: StepResult | None
    tcp: StepResult | None
    http: StepResult | None
    clock_skew_s: float | None = None
    """Server ``Date`` header minus local time (seconds), when the venue sent one."""

    @property
    def ok(self) -> bool:
        return all(step is not None and step.ok for step in (self.dns, self.tcp, self.http))

    @property
    def reason(self) -> str:
        for label, step in (("dns", self.dns), ("tcp", self.tcp), ("http", self.http)):
            if step is None or not step.ok:
                return f"{self.name}: {label} failed ({step.detail if step else 'not attempted'})"
        return f"{self.name}: ok"


@dataclass(frozen=True)
class NetworkCheckResult:
    verdict: Verdict
    reason: str
    venues: tuple[VenueStatus, ...]

    @property
    def go(self) -> bool:
        return self.verdict == "GO"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "venues": [{**asdict(v), "ok": v.ok, "reason": v.reason} for v in self.venues],
        }


def _timed(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 2)


def _dns(host: str, port: int, timeout_s: float) -> tuple[StepResult, list[tuple[Any, ...]]]:
    start = time.monotonic()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="netcheck-dns")
    try:  # getaddrinfo has no timeout of its own; bound it by waiting on a thread
        infos = pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM).result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        return StepResult(False, f"resolving {host} timed out after {timeout_s}s", _timed(start)), []
    except OSError as exc:
        return StepResult(False, f"cannot resolve {host}: {exc}", _timed(start)), []
    finally:
        pool.shutdown(wait=False)
    addrs = sorted({str(info[4][0]) for info in infos})
    return StepResult(True, f"{host} -> {', '.join(addrs)}", _timed(start)), list(infos)


def _tcp(infos: list[tuple[Any, ...]], timeout_s: float) -> StepResult:
    start = time.monotonic()
    errors = []
    for family, socktype, proto, _canon, sockaddr in infos:
        try:
            with socket.socket(family, socktype, proto) as sock:
                sock.settimeout(timeout_s)
                sock.connect(sockaddr)
            return StepResult(True, f"connected to {sockaddr[0]}:{sockaddr[1]}", _timed(start))
        except OSError as exc:
            errors.append(f"{sockaddr[0]}:{sockaddr[1]}: {exc.strerror or exc}")
    return StepResult(False, "; ".join(errors) or "no address", _timed(start))


def _http(url: str, timeout_s: float) -> tuple[StepResult, float | None]:
    start = time.monotonic()
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        return StepResult(False, f"GET {url}: {type(exc).__name__}: {exc}", _timed(start)), None
    skew = None
    if "date" in response.headers:
        try:
            skew = round(parsedate_to_datetime(response.headers["date"]).timestamp() - time.time(), 3)
        except (TypeError, ValueError):
            skew = None
    ok = response.status_code < 500
    return StepResult(ok, f"GET {url} -> HTTP {response.status_code}", _timed(start)), skew


def probe_venue(venue: VenueEndpoint, timeout_s: float) -> VenueStatus:
    """DNS, then TCP, then HTTP; a failed step stops the probe (later steps stay ``None``)."""
    parts = urlsplit(venue.url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    dns, infos = _dns(host, port, timeout_s)
    if not dns.ok:
        return VenueStatus(venue.name, venue.url, dns, None, None)
    tcp = _tcp(infos, timeout_s)
    if not tcp.ok:
        return VenueStatus(venue.name, venue.url, dns, tcp, None)
    http, skew = _http(venue.url, timeout_s)
    return VenueStatus(venue.name, venue.url, dns, tcp, http, skew)


def check_network(
    venues: Sequence[VenueEndpoint], timeout_s: float = 3.0, require_all: bool = True
) -> NetworkCheckResult:
    """Probe every venue concurrently and decide GO/NO_GO.

    No venues configured is NO_GO: a feed with nowhere to connect must not report healthy.
    """
    if not venues:
        return NetworkCheckResult("NO_GO", "no venues configured", ())
    workers = min(8, len(venues))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="netcheck") as pool:
        statuses = tuple(pool.map(lambda v: probe_venue(v, timeout_s), venues))
    failed = [s for s in statuses if not s.ok]
    if not failed:
        return NetworkCheckResult("GO", f"all {len(statuses)} venue(s) reachable", statuses)
    if require_all or len(failed) == len(statuses):
        return NetworkCheckResult("NO_GO", "; ".join(s.reason for s in failed), statuses)
    reason = f"{len(statuses) - len(failed)}/{len(statuses)} venue(s) reachable; " + "; ".join(
        s.reason for s in failed
    )
    return NetworkCheckResult("GO", reason, statuses)


def check_configured(section: NetworkSection) -> NetworkCheckResult:
    return check_network(section.venues, section.timeout_s, section.require_all)


async def acheck_network(
    venues: Sequence[VenueEndpoint], timeout_s: float = 3.0, require_all: bool = True
) -> NetworkCheckResult:
    """:func:`check_network` for async callers (feeds); the probes run in a worker thread."""
    return await asyncio.to_thread(check_network, venues, timeout_s, require_all)
