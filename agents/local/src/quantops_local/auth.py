"""Who may call the local supervisor's HTTP API: credentials, principals and the request checks.

Why it exists: under `quantops up` the supervisor plays the API server's part. Without this, any
process on the host — and any web page, through the visitor's browser (a ``text/plain`` POST needs
no CORS preflight; DNS rebinding defeats "loopback only") — could lift a STOP, promote a strategy
or forge a heartbeat, and write whatever ``who`` it liked into the audit trail.

Credentials (one run token per `quantops up`; nothing here is ever logged, put on a command line
or in a config file):

- **run token**: ``secrets.token_urlsafe(32)``, made when the supervisor starts and written to
  ``<state-dir>/control.token`` (created ``O_CREAT|O_EXCL`` with mode 0600: never readable by
  another user, not even briefly). The CLI reads it. Principal ``cli:<user>`` — the user the
  supervisor runs as, the only one (with root) who can read the file.
- **agent token**: HMAC-SHA256(run token, ``agent:<name>``), given to agent ``<name>`` in
  ``$QUANTOPS_CONTROL_TOKEN``. Principal ``agent/<name>``. An agent cannot derive another agent's
  token or the run token from its own, so it can act neither as another agent nor as a person.
- **simulator token**: HMAC-SHA256(run token, ``venue-sim:<name>``), given to a venue-sim agent in
  ``$QUANTOPS_SIM_CONTROL_TOKEN``; its simulator's ``/_sim/*`` control API requires it
  (:func:`sim_token` lets the CLI's holder — a person, a test — derive it).

Request checks, in this order (:meth:`Guard.middleware`), each refusal a JSON ``{"error": ...}``
naming what is missing: ``Host`` must be ``127.0.0.1:<port>`` or ``localhost:<port>`` (403, DNS
rebinding); a POST must be ``Content-Type: application/json`` (415: what a web page can send
without a preflight is refused); an ``Origin``, when present, must be the supervisor's own (403);
then the credential (401) and the route's rule in :data:`ACCESS` (403). The authenticated
:class:`Principal` is ``request[PRINCIPAL]`` (:func:`principal_of`); handlers record *it* as ``who``.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

__all__ = [
    "ACCESS",
    "PRINCIPAL",
    "SIM_TOKEN_ENV",
    "TOKEN_ENV",
    "TOKEN_FILE",
    "Access",
    "Guard",
    "Principal",
    "TokenFileError",
    "agent_token",
    "new_token",
    "principal_of",
    "read_token_file",
    "sim_token",
    "write_token_file",
]

TOKEN_FILE = "control.token"
TOKEN_ENV = "QUANTOPS_CONTROL_TOKEN"
SIM_TOKEN_ENV = "QUANTOPS_SIM_CONTROL_TOKEN"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TokenFileError(RuntimeError):
    """The run token file is missing or cannot be read (the message says which and what to do)."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _derive(run_token: str, purpose: str) -> str:
    return hmac.new(run_token.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def agent_token(run_token: str, agent: str) -> str:
    """Agent ``agent``'s own credential for the supervisor API."""
    return _derive(run_token, f"agent:{agent}")


def sim_token(run_token: str, agent: str) -> str:
    """The ``/_sim/*`` control token of venue-sim agent ``agent``'s simulator."""
    return _derive(run_token, f"venue-sim:{agent}")


def write_token_file(state_dir: Path, token: str) -> Path:
    """``<state-dir>/control.token``, mode 0600 from its creation on (a previous run's is replaced).

    ``O_EXCL`` also refuses to follow a symlink planted where the file goes.
    """
    path = state_dir / TOKEN_FILE
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, token.encode())
    finally:
        os.close(fd)
    return path


def read_token_file(state_dir: Path) -> str:
    path = state_dir / TOKEN_FILE
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        raise TokenFileError(
            f"{path} missing: is `quantops up` running with --state-dir {state_dir}?"
        ) from None
    except PermissionError:
        raise TokenFileError(
            f"{path}: permission denied (only the user running `quantops up` may read it)"
        ) from None
    if not token:
        raise TokenFileError(f"{path} is empty")
    return token


@dataclass(frozen=True)
class Principal:
    """Who a request comes from, as its credential proves: ``cli:<user>`` or ``agent/<name>``."""

    name: str
    agent: str | None = None
    role: str | None = None

    @property
    def is_person(self) -> bool:
        return self.agent is None


@dataclass(frozen=True)
class Access:
    """Who may call one route. ``open``: anyone on loopback (read-only, nothing secret in it).
    ``people``: the CLI's run token. ``roles``: agents of these roles (``"*"``: any agent).
    ``own``: only the agent the request is about (``agent`` in the query or JSON body)."""

    open: bool = False
    people: bool = False
    roles: frozenset[str] = frozenset()
    own: bool = False


ACCESS: dict[tuple[str, str], Access] = {
    # what the dashboard (the supervisor agent, server side), `quantops status` and the trader's
    # venue discovery read: agents, phases, gates, stages — no credential or key is in it
    ("GET", "/api/status"): Access(open=True),
    ("GET", "/api/strategies"): Access(people=True, roles=frozenset({"*"})),
    ("GET", "/api/gates"): Access(people=True, own=True),
    ("POST", "/api/heartbeat"): Access(own=True),
    ("POST", "/api/release"): Access(own=True),
    ("POST", "/api/gate"): Access(people=True, roles=frozenset({"canary"})),
    ("POST", "/api/strategies/{name}/status"): Access(people=True, roles=frozenset({"pipeline"})),
}
"""Every route of the supervisor app; a route missing here is for people only (deny by default)."""

PEOPLE_ONLY = Access(people=True)
PRINCIPAL = web.RequestKey("principal", Principal)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _refuse(status: int, error: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": error}, status=status, headers=headers)


class Guard:
    """The supervisor app's middleware: Host, Content-Type, Origin, credential, access rule."""

    def __init__(self, run_token: str, agents: Mapping[str, str], user: str | None = None) -> None:
        """``agents``: agent name → role (each gets :func:`agent_token`)."""
        self._run = run_token
        self._people = Principal(f"cli:{user or getpass.getuser()}")
        self._agents = {
            agent_token(run_token, name): Principal(f"agent/{name}", name, role)
            for name, role in agents.items()
        }

    def identify(self, presented: str) -> Principal | None:
        """The principal whose token ``presented`` is (every candidate compared in constant time)."""
        found: Principal | None = None
        if hmac.compare_digest(presented.encode(), self._run.encode()):
            found = self._people
        for token, principal in self._agents.items():
            if hmac.compare_digest(presented.encode(), token.encode()):
                found = principal
        return found

    @staticmethod
    def _port(request: web.Request) -> int | None:
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        return int(sock[1]) if isinstance(sock, tuple) and len(sock) >= 2 else None

    @staticmethod
    def _subject(request: web.Request, body: Any) -> str | None:
        if request.method in _SAFE_METHODS:
            return request.query.get("agent")
        return str(body["agent"]) if isinstance(body, dict) and "agent" in body else None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        port = self._port(request)
        names = ("127.0.0.1", "localhost")
        hosts = {f"{n}:{port}" for n in names} | (set(names) if port == 80 else set())
        if request.headers.get("Host", "") not in hosts:
            return _refuse(
                403,
                f"Host: {request.headers.get('Host', '')!r} is not this supervisor "
                f"(expected 127.0.0.1:{port} or localhost:{port}; DNS rebinding is refused)",
            )
        if request.method not in _SAFE_METHODS and request.content_type != "application/json":
            return _refuse(
                415,
                f"Content-Type: {request.method} needs application/json (got {request.content_type!r})",
            )
        origin = request.headers.get("Origin")
        if origin is not None and origin not in {f"http://{h}" for h in hosts}:
            return _refuse(
                403, f"Origin: {origin!r} is not this supervisor's origin; cross-site calls are refused"
            )
        route = request.match_info.route.resource
        access = ACCESS.get((request.method, route.canonical), PEOPLE_ONLY) if route else PEOPLE_ONLY
        if request.method == "HEAD" and route is not None:
            access = ACCESS.get(("GET", route.canonical), PEOPLE_ONLY)
        if access.open:
            return await handler(request)
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return _refuse(
                401,
                "Authorization: a Bearer token is required (the CLI reads <state-dir>/control.token; "
                "agents get theirs from `quantops up`)",
                {"WWW-Authenticate": 'Bearer realm="quantops"'},
            )
        principal = self.identify(presented.strip())
        if principal is None:
            return _refuse(
                401, "Authorization: token not recognised (a previous run's?)", {"WWW-Authenticate": "Bearer"}
            )
        body: Any = None
        if access.own and request.method not in _SAFE_METHODS:
            try:
                body = await request.json()  # aiohttp keeps the bytes: the handler reads it again
            except ValueError:
                return _refuse(400, "body: not JSON")
        if not self._allowed(access, principal, self._subject(request, body)):
            what = f"{request.method} {route.canonical if route else request.path}"
            return _refuse(403, f"{principal.name} may not {what}{self._why(access, principal)}")
        request[PRINCIPAL] = principal
        return await handler(request)

    @staticmethod
    def _allowed(access: Access, p: Principal, subject: str | None) -> bool:
        if p.is_person:
            return access.people
        if access.own:
            return subject is None or subject == p.agent
        return "*" in access.roles or p.role in access.roles

    @staticmethod
    def _why(access: Access, p: Principal) -> str:
        if p.is_person:
            return " (agents only; each with its own credential)"
        if access.own:
            return f" for another agent (its credential is for agent {p.agent!r} only)"
        allowed = ", ".join(sorted(access.roles)) or "none"
        return f" (role {p.role!r}; allowed roles: {allowed}{', and people' if access.people else ''})"


def principal_of(request: web.Request) -> Principal:
    """The request's authenticated principal (set by :class:`Guard`)."""
    p = request.get(PRINCIPAL)
    if not isinstance(p, Principal):  # an open route never reaches a handler that records who
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "Authorization: required"}), content_type="application/json"
        )
    return p
