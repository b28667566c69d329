"""The dashboard in a real headless Chromium (roadmap 91): `quantops up` with a supervisor agent,
the page shows the agents, and a `quantops gate` flip appears in the open page without a reload.

Chromium is driven over the DevTools protocol (a websocket on loopback, via aiohttp); only
127.0.0.1 is contacted. scripts/test.sh installs Debian's chromium when it is missing.
"""

from __future__ import annotations

import asyncio
import base64
import json
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


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    state, manifest = tmp_path / "state", tmp_path / "platform.yaml"
    manifest.write_text(MANIFEST)
    log = (tmp_path / "up.log").open("wb")
    proc = subprocess.Popen(
        [*QUANTOPS, "--state-dir", str(state), "up", "-f", str(manifest), "--duration", "90"],
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
