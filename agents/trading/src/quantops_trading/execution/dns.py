"""Venue host resolution with a fallback resolver sequence, verified at start (roadmap 68).

Why it exists: a venue that cannot be resolved is a venue that cannot be traded, and resolver
outages happen. Resolvers are plain async callables tried in order — the system resolver
(``getaddrinfo``, which honours /etc/hosts), a static hosts map, or anything injected — so tests
stay on loopback and never query an external DNS server. :func:`dns_check` builds the start-up
check a ``VenueConnector`` runs before warm-up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from quantops_trading.execution.errors import ExchangeUnavailable

__all__ = [
    "Resolution",
    "Resolver",
    "dns_check",
    "resolve_with_fallback",
    "static_resolver",
    "system_resolver",
]

Resolver = Callable[[str], Awaitable[list[str]]]


@dataclass(frozen=True)
class Resolution:
    host: str
    addresses: tuple[str, ...]
    resolver: str
    failures: tuple[str, ...]  # "name: reason" for each resolver tried before the one that worked


def system_resolver() -> Resolver:
    async def resolve(host: str) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        return sorted({str(i[4][0]) for i in infos})

    return resolve


def static_resolver(hosts: Mapping[str, Sequence[str]]) -> Resolver:
    async def resolve(host: str) -> list[str]:
        if host not in hosts:
            raise LookupError(f"{host} not in static map")
        return list(hosts[host])

    return resolve


async def resolve_with_fallback(
    host: str, resolvers: Sequence[tuple[str, Resolver]], *, timeout_s: float = 2.0
) -> Resolution:
    """First resolver that returns addresses wins; raise ExchangeUnavailable if none does."""
    try:
        ipaddress.ip_address(host)
        return Resolution(host, (host,), "literal", ())
    except ValueError:
        pass
    failures: list[str] = []
    for name, resolver in resolvers:
        try:
            addresses = await asyncio.wait_for(resolver(host), timeout_s)
        except (OSError, LookupError, TimeoutError) as e:
            failures.append(f"{name}: {type(e).__name__}: {e}")
            continue
        if addresses:
            return Resolution(host, tuple(addresses), name, tuple(failures))
        failures.append(f"{name}: no addresses")
    raise ExchangeUnavailable(f"cannot resolve {host}: {'; '.join(failures) or 'no resolvers'}")


def dns_check(url: str, resolvers: Sequence[tuple[str, Resolver]]) -> Callable[[], Awaitable[Resolution]]:
    """A start-up check resolving ``url``'s host through ``resolvers``."""
    host = urlsplit(url).hostname or ""

    async def check() -> Resolution:
        return await resolve_with_fallback(host, resolvers)

    return check
