"""Serve a local :class:`Supervisor`'s HTTP app in-process, for tests that need its API only; and
the credentials a test presents to a supervisor or to a `quantops up` venue's ``/_sim`` API."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from quantops_local import auth
from quantops_local.supervisor import Supervisor


async def serve(sup: Supervisor) -> tuple[web.AppRunner, str]:
    """The app on a free loopback port: the runner (``cleanup()`` it) and the base URL."""
    runner = web.AppRunner(sup.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def person(sup: Supervisor) -> dict[str, str]:
    """What the CLI sends: the run token (principal ``cli:<user>``)."""
    return bearer(sup.token)


def agent(sup: Supervisor, name: str) -> dict[str, str]:
    """Agent ``name``'s own credential (principal ``agent/<name>``)."""
    return bearer(auth.agent_token(sup.token, name))


def cli_headers(state: Path) -> dict[str, str]:
    """The run token of the `quantops up` running on ``state``, as the CLI reads it."""
    return bearer(auth.read_token_file(state))


def sim_headers(state: Path, venue_agent: str = "venue") -> dict[str, str]:
    """The ``/_sim`` control token of venue-sim agent ``venue_agent`` of that `quantops up`."""
    return bearer(auth.sim_token(auth.read_token_file(state), venue_agent))
