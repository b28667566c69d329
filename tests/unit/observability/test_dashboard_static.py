"""The dashboard's vendored chart library (uPlot, from npm by hack/vendor-uplot.sh) is what the
script recorded, and the dashboard serves it — and nothing else — from its own origin."""

from __future__ import annotations

import hashlib

from aiohttp.test_utils import TestClient, TestServer

from quantops_trading.observability import dashboard


def test_the_vendored_files_match_their_recorded_sha256() -> None:
    sums = (dashboard.STATIC_DIR / "SHA256SUMS").read_text().split("\n")
    recorded = dict(reversed(line.split()) for line in sums if line.strip())
    assert set(recorded) == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"}
    for name, digest in recorded.items():
        assert hashlib.sha256((dashboard.STATIC_DIR / name).read_bytes()).hexdigest() == digest, name
    assert (dashboard.STATIC_DIR / "VERSION").read_text().startswith("uplot 1.6.")


async def test_the_dashboard_serves_the_library_and_refuses_other_paths() -> None:
    app = dashboard.app(dict, lambda since, limit: [])
    async with TestClient(TestServer(app)) as client:
        js = await client.get("/static/uPlot.iife.min.js")
        assert js.status == 200 and js.content_type == "text/javascript"
        assert b"uPlot" in await js.read()
        for bad in ("/static/LICENSE", "/static/SHA256SUMS", "/static/..%2Fdashboard.py"):
            assert (await client.get(bad)).status == 404, bad
        page = await (await client.get("/")).text()
        assert 'src="static/uPlot.iife.min.js"' in page and "cdn" not in page.lower()
