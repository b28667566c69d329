"""The dashboard in a real headless Chromium (roadmap 91): `quantops up` with a supervisor agent,
the page shows the agents, and a `quantops gate` flip appears in the open page without a reload.

Chromium is driven over the DevTools protocol (a websocket on loopback, via aiohttp); only
127.0.0.1 is contacted. scripts/test.sh installs Debian's chromium when it is missing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

QUANTOPS = [sys.executable, "-m", "quantops_local.cli"]
MANIFEST = """
apiVersion: quantops.dev/v1alpha1
kind: RiskPolicy
metadata: {name: global}
spec: {gate: GO}
---
apiVersion: quantops.dev/v1alpha1
kind: Strategy
metadata: {name: demo}
spec: {entrypoint: "quantops_trading.strategies.momentum:Momentum", pairs: [BTC/USDT]}
---
apiVersion: quantops.dev/v1alpha1
kind: Agent
metadata: {name: trader}
spec:
  role: trader
  strategies: [demo]
  heartbeatSeconds: 0.5
  apiLossGraceSeconds: 1.5
  recoveryHoldSeconds: 1
  backoff: {initialSeconds: 0.5, maxSeconds: 5, staleAfterSeconds: 3}
---
apiVersion: quantops.dev/v1alpha1
kind: Agent
metadata: {name: boss}
spec:
  role: supervisor
  dependsOn: [trader]
  heartbeatSeconds: 0.5
  apiLossGraceSeconds: 1.5
  backoff: {initialSeconds: 0.5, maxSeconds: 5, staleAfterSeconds: 3}
  config: {pollSeconds: 0.25, snapshotSeconds: 1}
"""


def _cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*QUANTOPS, "--state-dir", str(state), *args], capture_output=True, text=True, timeout=30
    )


def _wait(pred: Any, timeout: float, what: str) -> Any:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (httpx.HTTPError, json.JSONDecodeError, KeyError, StopIteration):
            last = None
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


def _up(tmp_path: Path, manifest: Path, *extra: str) -> Iterator[tuple[Path, str]]:
    state = tmp_path / "state"
    log = (tmp_path / "up.log").open("wb")
    proc = subprocess.Popen(
        [*QUANTOPS, "--state-dir", str(state), "up", "-f", str(manifest), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(lambda: (state / "supervisor.json").exists(), 20, "supervisor.json")

        def url() -> str:
            boss = next(
                a for a in json.loads(_cli(state, "status", "--json").stdout)["agents"] if a["name"] == "boss"
            )
            st = httpx.get(f"http://127.0.0.1:{boss['port']}/status", timeout=2).json()
            return str(st["work"]["dashboardUrl"])

        yield state, _wait(url, 40, "the supervisor agent's dashboardUrl in /status")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    manifest = tmp_path / "platform.yaml"
    manifest.write_text(MANIFEST)
    yield from _up(tmp_path, manifest, "--duration", "90")


@pytest.fixture
def trading_dashboard(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The demo platform (venue simulator, a fast momentum trader, the canary, the supervisor)."""
    yield from _up(
        tmp_path, Path(__file__).with_name("platform-demo.yaml"), "--speed", "300", "--duration", "150"
    )


class Page:
    """A minimal DevTools-protocol client for one page target."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.next_id = ws, 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            msg = await asyncio.wait_for(self.ws.receive_json(), 20)
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return dict(msg["result"])

    async def js(self, expr: str) -> Any:
        res = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return res["result"].get("value")

    async def wait_js(self, expr: str, within: float, what: str) -> Any:
        deadline, last = time.monotonic() + within, None
        while time.monotonic() < deadline:
            last = await self.js(expr)
            if last:
                return last
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; last={last!r}")


@pytest.fixture
def devtools(tmp_path: Path) -> Iterator[str]:
    """Headless Chromium with the DevTools endpoint on loopback; yields the page's websocket URL."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed (scripts/test.sh installs Debian's chromium)"
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "chromium.log").open("wb"),
    )
    try:
        port_file = profile / "DevToolsActivePort"
        _wait(lambda: port_file.exists() and port_file.read_text().strip(), 30, "DevToolsActivePort")
        port = int(port_file.read_text().splitlines()[0])
        targets = _wait(
            lambda: httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json(), 20, "targets"
        )
        yield str(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
async def browser(devtools: str) -> AsyncIterator[Page]:
    async with aiohttp.ClientSession() as s, s.ws_connect(devtools, max_msg_size=0) as ws:
        yield Page(ws)


async def test_dashboard_shows_agents_and_a_gate_flip_without_reload(
    dashboard: tuple[Path, str], browser: Page, tmp_path: Path
) -> None:
    state, url = dashboard
    assert url.startswith("http://127.0.0.1:")
    await browser.call("Page.enable")
    await browser.call("Page.navigate", url=url)
    text = 'document.getElementById("agents").innerText'
    await browser.wait_js(f'{text}.includes("trader") && {text}.includes("boss")', 30, "agents in the page")
    assert "GO" in await browser.js('document.getElementById("gates").innerText')
    await browser.js("window.__notReloaded = 42")
    flip = _cli(state, "gate", "global", "STOP", "--reason", "dashboard-drill")
    assert flip.returncode == 0, flip.stderr
    hist = 'document.getElementById("gate-history").innerText'
    await browser.wait_js(
        f'{hist}.includes("dashboard-drill") && {hist}.includes("STOP")', 20, "the flip in history"
    )
    gates = await browser.js('document.getElementById("gates").innerText')
    assert "RiskPolicy/global\tSTOP" in gates, gates
    await browser.wait_js(f'{text}.includes("STOP")', 20, "agents' effective gate STOP")
    await browser.wait_js(
        'document.getElementById("alerts").innerText.includes("NO_GO")', 20, "a NO_GO alert"
    )
    assert await browser.js("window.__notReloaded") == 42, "the page updated in place, without a reload"
    shot = await browser.call("Page.captureScreenshot", format="png")
    png = tmp_path / "dashboard.png"
    png.write_bytes(base64.b64decode(shot["data"]))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    print(f"dashboard screenshot: {png}")


def _trader_work(state: Path) -> dict[str, Any]:
    trader = next(
        a for a in json.loads(_cli(state, "status", "--json").stdout)["agents"] if a["name"] == "trader"
    )
    return dict(httpx.get(f"http://127.0.0.1:{trader['port']}/status", timeout=2).json()["work"])


async def test_the_trading_panels_show_the_traders_positions_fills_and_charts_with_axes(
    trading_dashboard: tuple[Path, str], browser: Page, tmp_path: Path
) -> None:
    """On a trading platform: the P&L and drawdown charts are uPlot charts with a UTC time axis and
    a labelled value axis and print their latest values; the positions, last fills, statistics and
    venue-latency panels show the trader's own figures, and the fills are the ones in its event
    log. The screenshot is checked not to be blank (and kept with QUANTOPS_SCREENSHOT_DIR)."""
    state, url = trading_dashboard
    await browser.call("Page.enable")
    await browser.call("Page.navigate", url=url)
    rows = lambda el: f'document.getElementById("{el}").querySelectorAll("tr").length'  # noqa: E731
    await browser.wait_js(f"{rows('fills')} > 2", 90, "two fills in the page")
    await browser.wait_js(
        "window.qpCharts.pnl && window.qpCharts.pnl.data[0].length > 3", 60, "a P&L chart with points"
    )
    axes = await browser.js(
        "(() => { const u = window.qpCharts.pnl; return {labels: u.axes.map(a => a.label), "
        "series: u.series.map(s => s.label), xs: u.data[0].length, "
        "min: u.scales.x.min, max: u.scales.x.max}; })()"
    )
    assert axes["labels"] == ["time (UTC)", "quote"], axes
    assert "total" in axes["series"] and "fast-momo" in axes["series"], axes
    assert axes["xs"] > 3 and axes["max"] > axes["min"] > 1e9, axes  # epoch seconds on the time axis
    latest = await browser.js('document.getElementById("pnl-latest").innerText')
    assert re.search(r"total [+-][\d,]+\.\d\d quote", latest), latest
    assert await browser.js("!!window.qpCharts.dd && window.qpCharts.dd.axes[1].label === 'quote'")

    # the trader's own figures, as its /status has them, appear in the panels
    work = _trader_work(state)
    fill = work["recentFills"][0]
    fills = 'document.getElementById("fills").innerText'
    await browser.wait_js(f"{fills}.includes({json.dumps(fill['price'])})", 10, "the trader's last fill")
    stats = await browser.js('document.getElementById("stats").innerText')
    assert re.search(r"fast-momo\t\d+\t[1-9]\d*\t", stats), stats
    venue = await browser.wait_js(
        'document.getElementById("venue").innerText.match(/venue\\t\\w+\\t[\\d.,]+\\t[\\d.,]+/)',
        20,
        "submit→ack p50 and p99 in ms",
    )
    assert venue, venue
    fresh = await browser.js('document.getElementById("freshness").innerText')
    assert re.search(r"trader\tBTC/USDT\t[\d.,]+\taccepted", fresh), fresh  # the book the trader trades on
    positions = await browser.js('document.getElementById("positions").innerText')
    assert "fast-momo\tBTC/USDT" in positions or not work["positions"], (positions, work["positions"])

    # every fill the page shows is a fill of the trader's event log (price and quantity)
    from quantops_trading.storage.eventlog import EventLog

    with EventLog(state / "eventlogs" / "fast-momo.sqlite") as log:
        booked = {
            (str(e.data()["fill"]["price"]), str(e.data()["fill"]["quantity"]))
            for e in log.entries()
            if e.kind == "order_filled"
        }
    shown = await browser.js(
        "[...document.querySelectorAll('#fills tr')].slice(1).map(r => [...r.cells].map(c => c.innerText))"
    )
    assert shown and all((r[5], r[4]) in booked for r in shown), (shown[:3], sorted(booked)[:3])

    shot = await browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = tmp_path / "dashboard-trading.png"
    png.write_bytes(base64.b64decode(shot["data"]))
    from PIL import Image

    img = Image.open(png).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 20) or []
    assert img.size[0] >= 1200 and len(colours) > 200, (img.size, len(colours))  # drawn, not blank
    keep = os.environ.get("QUANTOPS_SCREENSHOT_DIR")
    if keep:
        shutil.copy(png, Path(keep) / "dashboard.png")
    print(f"dashboard screenshot: {png}")
