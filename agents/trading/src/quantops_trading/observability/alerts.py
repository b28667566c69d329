"""GO / NO_GO alert routing: by severity and scope to channels, deduplicated and rate-limited.

Why it exists (roadmap 93): a gate flip or a starving feed must reach people where they look
(a Slack-compatible webhook, a file a log shipper tails, Kubernetes Events next to the object),
once — not fifty times while a flapping agent restarts. :class:`AlertRouter` matches each alert
against ordered :class:`Route` s (severity set × scope globs → channel names), drops a repeat of the
same key within ``dedup_seconds``, and caps each channel at ``per_minute`` deliveries (token bucket;
what is dropped is counted in :attr:`AlertRouter.suppressed`). Channels are one-method adapters, so
Kubernetes Events come through :class:`KubeEventSink` without this module importing a client; the
real sink is ``observability.kube_events.KubeEventRecorder`` (events.k8s.io/v1, deduplicated into
series), which ``router_from_config`` uses for ``type: kube-events`` channels.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Alert",
    "AlertRouter",
    "Channel",
    "FileChannel",
    "KubeEventChannel",
    "KubeEventSink",
    "Route",
    "WebhookChannel",
    "gate_alerts",
    "router_from_config",
    "slack_payload",
]

Severity = Literal["info", "warning", "critical"]
_GATE_SEVERITY: dict[str, Severity] = {"GO": "info", "CHECK": "info", "PAUSE": "warning", "STOP": "critical"}


class Alert(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: Literal["GO", "NO_GO"]
    severity: Severity
    scope: str = Field(description="What it is about, e.g. 'agent/trader' or 'RiskPolicy/global'.")
    title: str
    detail: str = ""
    at: float = Field(default_factory=time.time)

    @property
    def key(self) -> str:
        return f"{self.state}|{self.scope}|{self.title}"


class Route(BaseModel):
    severities: list[Severity] = Field(
        default_factory=lambda: list[Severity](["info", "warning", "critical"])
    )
    scopes: list[str] = Field(default_factory=lambda: ["*"], description="fnmatch globs on Alert.scope")
    channels: list[str]

    def matches(self, a: Alert) -> bool:
        return a.severity in self.severities and any(fnmatch.fnmatchcase(a.scope, g) for g in self.scopes)


class Channel(Protocol):
    name: str

    async def send(self, alert: Alert) -> None: ...


def slack_payload(a: Alert) -> dict[str, Any]:
    """Slack incoming-webhook shape: ``text`` fallback plus Block Kit ``blocks``."""
    icon = {"GO": ":large_green_circle:", "NO_GO": ":red_circle:"}[a.state]
    text = f"{icon} {a.state} [{a.severity}] {a.scope}: {a.title}"
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(a.at))
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": a.detail or "(no detail)"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"quantops supervisor · {when}"}]},
        ],
    }


@dataclass
class WebhookChannel:
    name: str
    url: str
    timeout: float = 5.0

    async def send(self, alert: Alert) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as s,
            s.post(self.url, json=slack_payload(alert)) as r,
        ):
            r.raise_for_status()


@dataclass
class FileChannel:
    name: str
    path: Path

    async def send(self, alert: Alert) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps({**alert.model_dump(), "key": alert.key}) + "\n")


class KubeEventSink(Protocol):
    """Creates a Kubernetes Event (``type`` Normal/Warning) about an object (sync or async)."""

    def emit(self, involved: str, reason: str, message: str, type_: str) -> Awaitable[None] | None: ...


@dataclass
class KubeEventChannel:
    name: str
    sink: KubeEventSink

    async def send(self, alert: Alert) -> None:
        type_ = "Normal" if alert.state == "GO" else "Warning"
        res = self.sink.emit(
            alert.scope, f"Alert{alert.state.replace('_', '')}", f"{alert.title}: {alert.detail}", type_
        )
        if inspect.isawaitable(res):
            await res


@dataclass
class AlertRouter:
    routes: list[Route]
    channels: dict[str, Channel]
    dedup_seconds: float = 300.0
    per_minute: int = 20
    clock: Callable[[], float] = time.time
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=100))
    suppressed: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _seen: dict[str, float] = field(default_factory=dict)
    _tokens: dict[str, tuple[float, float]] = field(default_factory=dict)

    def _take(self, channel: str, now: float) -> bool:
        tokens, at = self._tokens.get(channel, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - at) * self.per_minute / 60.0)
        ok = tokens >= 1.0
        self._tokens[channel] = (tokens - 1.0 if ok else tokens, now)
        return ok

    async def dispatch(self, alert: Alert) -> list[str]:
        """Deliver to every matching channel; returns the channels it reached."""
        now = self.clock()
        last = self._seen.get(alert.key)
        if last is not None and now - last < self.dedup_seconds:
            self.suppressed["dedup"] = self.suppressed.get("dedup", 0) + 1
            return []
        self._seen[alert.key] = now
        names = list(dict.fromkeys(c for r in self.routes if r.matches(alert) for c in r.channels))
        sent = []
        for name in names:
            ch = self.channels.get(name)
            if ch is None:
                self.errors[name] = "no such channel"
                continue
            if not self._take(name, now):
                self.suppressed[f"rate:{name}"] = self.suppressed.get(f"rate:{name}", 0) + 1
                continue
            try:
                await ch.send(alert)
                sent.append(name)
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                self.errors[name] = f"{type(e).__name__}: {e}"
        self.recent.append({**alert.model_dump(), "channels": sent})
        return sent


def gate_alerts(prev: dict[str, Any] | None, cur: dict[str, Any]) -> list[Alert]:
    """GO/NO_GO alerts from two /api/status views: gate scopes and agents' effective gates."""
    out: list[Alert] = []
    old_gates = (prev or {}).get("gates", {})
    for scope, new in sorted(cur.get("gates", {}).items()):
        old = old_gates.get(scope, "GO" if prev is None else new)
        if old != new:
            out.append(_flip(scope, old, new, f"gate {old} → {new}"))
    old_agents = {a["name"]: a for a in (prev or {}).get("agents", [])}
    for a in cur.get("agents", []):
        old_a = old_agents.get(a["name"])
        old, new = (old_a or {}).get("effectiveGate", "GO"), a.get("effectiveGate", "GO")
        if old != new:
            why = f"effective gate {old} → {new} (source {a.get('gateSource')})"
            out.append(_flip(f"agent/{a['name']}", old, new, why))
    return out


def _flip(scope: str, old: str, new: str, detail: str) -> Alert:
    state: Literal["GO", "NO_GO"] = "GO" if new == "GO" else "NO_GO"
    title = "back to GO" if state == "GO" else f"{new} (was {old})"
    return Alert(
        state=state, severity=_GATE_SEVERITY.get(new, "warning"), scope=scope, title=title, detail=detail
    )


def router_from_config(
    cfg: dict[str, Any], state_dir: Path, sinks: Sequence[KubeEventSink] = ()
) -> AlertRouter:
    """``spec.config.alerts``: ``channels: {name: {type: webhook|file|kube-events, url|path}}``,
    ``routes: [{severities, scopes, channels}]``, ``dedupSeconds``, ``perMinute``. Default: every
    alert to ``<state>/alerts.jsonl``."""
    channels: dict[str, Channel] = {}
    for name, c in (cfg.get("channels") or {"file": {"type": "file"}}).items():
        kind = c.get("type", "file")
        if kind == "webhook":
            channels[name] = WebhookChannel(name, str(c["url"]), float(c.get("timeout", 5.0)))
        elif kind == "file":
            channels[name] = FileChannel(name, state_dir / str(c.get("path", "alerts.jsonl")))
        elif kind == "kube-events" and sinks:
            channels[name] = KubeEventChannel(name, sinks[0])
        else:
            raise ValueError(f"alerts.channels.{name}: unknown or unavailable type {kind!r}")
    routes = [Route.model_validate(r) for r in cfg.get("routes") or [{"channels": list(channels)}]]
    return AlertRouter(routes, channels, float(cfg.get("dedupSeconds", 300.0)), int(cfg.get("perMinute", 20)))
