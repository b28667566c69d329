"""Alert routing (roadmap 93): Slack-compatible webhook to a local receiver, severity/scope routes,
dedup, rate limit, file and Kubernetes-Events channels, GO/NO_GO from gate flips."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from quantops_trading.observability.alerts import (
    Alert,
    AlertRouter,
    FileChannel,
    KubeEventChannel,
    Route,
    WebhookChannel,
    gate_alerts,
    router_from_config,
)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    async def hook(req: web.Request) -> web.Response:
        got.append(await req.json())
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.post("/hook", hook)])
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/hook", got
    await runner.cleanup()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    def emit(self, involved: str, reason: str, message: str, type_: str) -> None:
        self.events.append((involved, reason, message, type_))


async def test_routes_by_severity_and_scope_to_webhook_file_and_kube_events(
    receiver: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, got = receiver
    sink = Sink()
    router = AlertRouter(
        routes=[
            Route(severities=["critical"], channels=["slack"]),
            Route(scopes=["agent/*"], channels=["kube"]),
            Route(channels=["file"]),
        ],
        channels={
            "slack": WebhookChannel("slack", url),
            "file": FileChannel("file", tmp_path / "alerts.jsonl"),
            "kube": KubeEventChannel("kube", sink),
        },
    )
    stop = Alert(
        state="NO_GO", severity="critical", scope="RiskPolicy/global", title="STOP (was GO)", detail="d"
    )
    assert await router.dispatch(stop) == ["slack", "file"]
    assert got[0]["text"].startswith(":red_circle: NO_GO [critical] RiskPolicy/global")
    assert [b["type"] for b in got[0]["blocks"]] == ["section", "section", "context"]
    warn = Alert(state="NO_GO", severity="warning", scope="agent/trader", title="PAUSE (was GO)")
    assert await router.dispatch(warn) == ["kube", "file"]
    assert len(got) == 1, "warnings do not go to the critical-only webhook"
    assert sink.events == [("agent/trader", "AlertNOGO", "PAUSE (was GO): ", "Warning")]
    lines = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [x["scope"] for x in lines] == ["RiskPolicy/global", "agent/trader"]


async def test_dedup_and_rate_limit(tmp_path: Path) -> None:
    clock = Clock()
    router = AlertRouter(
        [Route(channels=["file"])],
        {"file": FileChannel("file", tmp_path / "a.jsonl")},
        dedup_seconds=60,
        per_minute=2,
        clock=clock,
    )
    a = Alert(state="NO_GO", severity="warning", scope="agent/x", title="PAUSE")
    assert await router.dispatch(a) == ["file"]
    assert await router.dispatch(a) == [], "same key within the dedup window"
    assert router.suppressed["dedup"] == 1
    clock.t += 61
    assert await router.dispatch(a) == ["file"], "after the window it is sent again"
    b = Alert(state="NO_GO", severity="warning", scope="agent/y", title="PAUSE")
    c = Alert(state="NO_GO", severity="warning", scope="agent/z", title="PAUSE")
    assert await router.dispatch(b) == ["file"]
    assert await router.dispatch(c) == [], "third in a minute exceeds perMinute=2"
    assert router.suppressed["rate:file"] == 1
    clock.t += 30  # one token back
    d = Alert(state="GO", severity="info", scope="agent/z", title="back to GO")
    assert await router.dispatch(d) == ["file"]
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 4


async def test_webhook_failure_is_recorded_not_raised(tmp_path: Path) -> None:
    router = AlertRouter(
        [Route(channels=["hook"])], {"hook": WebhookChannel("hook", "http://127.0.0.1:9/x", 1)}
    )
    assert await router.dispatch(Alert(state="GO", severity="info", scope="s", title="t")) == []
    assert "hook" in router.errors


def test_gate_alerts_from_status_views() -> None:
    def st(g: str, eff: str) -> dict[str, Any]:
        return {
            "gates": {"RiskPolicy/global": g, "Agent/a": "GO"},
            "agents": [{"name": "a", "effectiveGate": eff, "gateSource": "RiskPolicy/global"}],
        }

    assert gate_alerts(st("GO", "GO"), st("GO", "GO")) == []
    flips = gate_alerts(st("GO", "GO"), st("STOP", "STOP"))
    assert [(a.state, a.severity, a.scope) for a in flips] == [
        ("NO_GO", "critical", "RiskPolicy/global"),
        ("NO_GO", "critical", "agent/a"),
    ]
    back = gate_alerts(st("STOP", "STOP"), st("GO", "GO"))
    assert {(a.state, a.severity) for a in back} == {("GO", "info")}
    first = gate_alerts(None, st("PAUSE", "PAUSE"))
    assert [a.severity for a in first] == ["warning", "warning"], "a NO_GO at start is alerted"


def test_router_from_config(tmp_path: Path) -> None:
    r = router_from_config({}, tmp_path)
    assert list(r.channels) == ["file"] and r.routes[0].channels == ["file"]
    r = router_from_config(
        {"channels": {"s": {"type": "webhook", "url": "http://127.0.0.1:1/"}}, "perMinute": 5}, tmp_path
    )
    assert isinstance(r.channels["s"], WebhookChannel) and r.per_minute == 5
    with pytest.raises(ValueError, match="unknown or unavailable"):
        router_from_config({"channels": {"k": {"type": "kube-events"}}}, tmp_path)


class AsyncSink:
    """Shaped like observability.kube_events.KubeEventRecorder.emit (a coroutine); the real one is
    exercised against the API server in tests/cluster/test_kube_events.py."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    async def emit(self, involved: str, reason: str, message: str, type_: str) -> None:
        self.events.append((involved, reason, message, type_))


async def test_kube_event_channel_awaits_an_async_sink(tmp_path: Path) -> None:
    sink = AsyncSink()
    r = router_from_config({"channels": {"k": {"type": "kube-events"}}}, tmp_path, [sink])
    alert = Alert(state="NO_GO", severity="critical", scope="RiskPolicy/global", title="STOP (was GO)")
    assert await r.dispatch(alert) == ["k"]
    back = Alert(state="GO", severity="info", scope="RiskPolicy/global", title="back to GO")
    assert await r.dispatch(back) == ["k"]
    assert sink.events == [
        ("RiskPolicy/global", "AlertNOGO", "STOP (was GO): ", "Warning"),
        ("RiskPolicy/global", "AlertGO", "back to GO: ", "Normal"),
    ]
