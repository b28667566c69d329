"""HTTP endpoints every agent serves: /healthz (alive), /readyz (ready to work), /metrics, /status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


def build_app(
    *,
    alive: Callable[[], bool],
    ready: Callable[[], tuple[bool, str]],
    status: Callable[[], dict[str, Any]],
    registry: CollectorRegistry,
) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"alive": alive()}, status=200 if alive() else 503)

    async def readyz(_: web.Request) -> web.Response:
        ok, why = ready()
        return web.json_response({"ready": ok, "reason": why}, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def status_view(_: web.Request) -> web.Response:
        return web.json_response(status())

    app = web.Application()
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/metrics", metrics),
            web.get("/status", status_view),
        ]
    )
    return app


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    addresses = runner.addresses  # the bound port when asked for port 0
    bound = int(addresses[0][1]) if addresses else port
    return runner, bound
