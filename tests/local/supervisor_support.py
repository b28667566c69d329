"""Serve a local :class:`Supervisor`'s HTTP app in-process, for tests that need its API only."""

from __future__ import annotations

from aiohttp import web

from quantops_local.supervisor import Supervisor


async def serve(sup: Supervisor) -> tuple[web.AppRunner, str]:
    """The app on a free loopback port: the runner (``cleanup()`` it) and the base URL."""
    runner = web.AppRunner(sup.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"
