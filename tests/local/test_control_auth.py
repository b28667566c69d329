"""The local supervisor's API refuses whoever does not hold the right credential, and audits the
credential's principal, never the body's ``who`` (issue 16, part 1).

The supervisor's real HTTP app is served in-process on loopback (its agents are not started); every
request goes over real HTTP. What an attacker has: a web page (a ``text/plain`` POST with its own
``Origin``, or a DNS-rebound ``Host``), any local process without the 0600 token file, or one
agent's credential trying to act as another agent or as a person.
"""

from __future__ import annotations

import getpass
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from supervisor_support import agent, bearer, person, serve

from quantops_local import auth, cli
from quantops_local.manifests import load
from quantops_local.supervisor import Supervisor

PERSON = f"cli:{getpass.getuser()}"
MANIFEST = """
apiVersion: quantops.dev/v1alpha1
kind: RiskPolicy
metadata: {name: global}
spec: {gate: GO}
---
apiVersion: quantops.dev/v1alpha1
kind: Strategy
metadata: {name: momo}
spec: {entrypoint: "quantops_trading.strategies.momentum:Momentum", pairs: [BTC/USDT], desiredStage: HOT}
---
apiVersion: quantops.dev/v1alpha1
kind: Agent
metadata: {name: trader}
spec: {role: trader, strategies: [momo]}
---
apiVersion: quantops.dev/v1alpha1
kind: Agent
metadata: {name: boss}
spec: {role: supervisor}
---
apiVersion: quantops.dev/v1alpha1
kind: Agent
metadata: {name: pipe}
spec: {role: pipeline}
---
apiVersion: quantops.dev/v1alpha1
kind: Agent
metadata: {name: canary}
spec: {role: canary}
"""


class Api:
    def __init__(self, sup: Supervisor, base: str, http: httpx.AsyncClient) -> None:
        self.sup, self.base, self.http = sup, base, http

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.post(f"{self.base}{path}", json=body, headers=headers or {})

    async def get(self, path: str, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
        return await self.http.get(f"{self.base}{path}", params=params, headers=headers or {})

    def audit(self, event: str) -> list[dict[str, Any]]:
        path = self.sup.audit_path
        recs = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        return [r for r in recs if r["event"] == event]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    (tmp_path / "platform.yaml").write_text(MANIFEST)
    sup = Supervisor(load([tmp_path / "platform.yaml"]), tmp_path / "state")
    runner, base = await serve(sup)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            yield Api(sup, base, http)
    finally:
        await runner.cleanup()


STOP = {"scope": "global", "gate": "STOP", "reason": "maintenance"}
GO = {"scope": "global", "gate": "GO", "reason": "lift it"}


async def test_a_human_stop_cannot_be_lifted_without_the_token(api: Api) -> None:
    assert (await api.post("/api/gate", STOP, person(api.sup))).status_code == 200
    nobody = await api.post("/api/gate", GO)
    assert nobody.status_code == 401 and "Authorization" in nobody.json()["error"]
    assert nobody.headers["WWW-Authenticate"].startswith("Bearer")
    forged = await api.post("/api/gate", GO, bearer("not-the-token"))
    assert forged.status_code == 401 and "not recognised" in forged.json()["error"]
    trader = await api.post("/api/gate", GO, agent(api.sup, "trader"))  # only the canary's role may
    assert trader.status_code == 403 and "agent/trader may not POST /api/gate" in trader.json()["error"]
    assert api.sup.gates["RiskPolicy/global"].value == "STOP"
    assert [(r["new"], r["who"]) for r in api.audit("GateChanged")] == [("STOP", PERSON)]


async def test_a_web_page_text_plain_post_is_415_and_a_foreign_origin_is_403(api: Api) -> None:
    await api.post("/api/gate", STOP, person(api.sup))
    page = {"Content-Type": "text/plain", "Origin": "http://evil.example"}  # no preflight needed
    r = await api.http.post(f"{api.base}/api/gate", content=json.dumps(GO), headers=page)
    assert r.status_code == 415 and "application/json" in r.json()["error"]
    # even with a credential (a page cannot have one; a misused tool might): not from another origin
    cross = await api.post("/api/gate", GO, {**person(api.sup), "Origin": "http://evil.example"})
    assert cross.status_code == 403 and "Origin" in cross.json()["error"]
    assert api.sup.gates["RiskPolicy/global"].value == "STOP"
    own = await api.post("/api/gate", GO, {**person(api.sup), "Origin": api.base})  # its own origin
    assert own.status_code == 200


async def test_a_dns_rebinding_host_is_403_even_for_reads(api: Api) -> None:
    port = api.base.rsplit(":", 1)[1]
    rebound = {"Host": f"attacker.example:{port}"}
    r = await api.post("/api/gate", GO, {**person(api.sup), **rebound})
    assert r.status_code == 403 and "Host" in r.json()["error"] and "DNS rebinding" in r.json()["error"]
    assert (await api.get("/api/status", rebound)).status_code == 403
    assert (await api.get("/api/status", {"Host": f"localhost:{port}"})).status_code == 200


async def test_agent_a_cannot_heartbeat_or_release_as_b(api: Api) -> None:
    beat = {"agent": "boss", "queueLength": 0, "healthy": True}
    r = await api.post("/api/heartbeat", beat, agent(api.sup, "trader"))
    assert r.status_code == 403 and "agent 'trader' only" in r.json()["error"]
    assert (await api.post("/api/heartbeat", beat, person(api.sup))).status_code == 403  # agents only
    assert (await api.post("/api/heartbeat", beat)).status_code == 401
    assert api.sup.procs["boss"].last_heartbeat is None
    ok = await api.post(
        "/api/heartbeat", {**beat, "agent": "trader", "queueLength": 4}, agent(api.sup, "trader")
    )
    assert ok.status_code == 200
    assert api.sup.procs["trader"].last_heartbeat is not None and api.sup.procs["trader"].queue_length == 4
    assert api.sup.procs["boss"].last_heartbeat is None
    bad = await api.post("/api/release", {"agent": "boss", "replica": "x"}, agent(api.sup, "trader"))
    assert bad.status_code == 403 and api.audit("LeaseReleased") == []
    # a gate long-poll is the agent's own too
    assert (await api.get("/api/gates", agent(api.sup, "trader"), agent="boss")).status_code == 403
    assert (await api.get("/api/gates", agent(api.sup, "trader"), agent="trader")).status_code == 200
    assert (await api.get("/api/gates", agent="trader")).status_code == 401


async def test_the_audit_records_the_credential_s_principal_not_the_body_s_who(api: Api) -> None:
    await api.post("/api/gate", {**STOP, "who": "risk-engine"}, person(api.sup))
    await api.post("/api/gate", {**GO, "who": "cli"}, agent(api.sup, "canary"))
    changes = api.audit("GateChanged")
    assert [(c["who"], c.get("unverifiedWho")) for c in changes] == [
        (PERSON, "risk-engine"),
        ("agent/canary", "cli"),
    ]
    patch = {"patch": {"stage": "WARM"}, "who": "cli"}
    assert (await api.post("/api/strategies/momo/status", patch, agent(api.sup, "trader"))).status_code == 403
    r = await api.post("/api/strategies/momo/status", patch, agent(api.sup, "pipe"))
    assert r.status_code == 200
    (rec,) = api.audit("StrategyStatusChanged")
    assert (rec["who"], rec["unverifiedWho"], rec["new"]) == ("agent/pipe", "cli", "WARM")
    # a POST that is not an object, or not JSON, changes nothing and names why
    assert (await api.post("/api/gate", ["GO"], person(api.sup))).status_code == 400
    assert len(api.audit("GateChanged")) == 2


async def test_only_the_status_view_is_open_and_it_carries_no_credential(api: Api) -> None:
    r = await api.get("/api/status")  # the dashboard's source (the supervisor agent reads it)
    assert r.status_code == 200 and api.sup.token not in r.text
    assert all(auth.agent_token(api.sup.token, n) not in r.text for n in api.sup.agents)
    assert (await api.get("/api/strategies")).status_code == 401
    assert (await api.get("/api/strategies", agent(api.sup, "boss"))).status_code == 200
    assert (await api.get("/api/nothing-here")).status_code == 401  # unknown routes: deny by default
    assert (await api.get("/api/nothing-here", person(api.sup))).status_code == 404


def test_every_route_of_the_supervisor_has_an_access_rule(tmp_path: Path) -> None:
    (tmp_path / "platform.yaml").write_text(MANIFEST)
    app = Supervisor(load([tmp_path / "platform.yaml"]), tmp_path / "state").app()
    routes = {
        (r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD" and r.resource
    }
    assert routes == set(auth.ACCESS)
    open_routes = {k for k, v in auth.ACCESS.items() if v.open}
    assert open_routes == {("GET", "/api/status")}  # nothing that changes state is open


def test_agent_tokens_are_distinct_and_not_the_run_token() -> None:
    run = auth.new_token()
    tokens = {auth.agent_token(run, n) for n in ("trader", "boss", "canary")} | {auth.sim_token(run, "venue")}
    assert len(tokens) == 4 and run not in tokens
    assert auth.agent_token(auth.new_token(), "trader") != auth.agent_token(run, "trader")


def test_the_token_file_is_0600_from_creation_and_replaces_a_planted_symlink(tmp_path: Path) -> None:
    elsewhere = tmp_path / "victim"
    elsewhere.write_text("keep me")
    (tmp_path / auth.TOKEN_FILE).symlink_to(elsewhere)
    old = os.umask(0)  # the mode must not depend on the umask
    try:
        path = auth.write_token_file(tmp_path, "t0k3n")
    finally:
        os.umask(old)
    assert not path.is_symlink() and elsewhere.read_text() == "keep me"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "t0k3n"
    auth.write_token_file(tmp_path, "next-run")  # a later run replaces it
    assert auth.read_token_file(tmp_path) == "next-run"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_cli_without_the_token_file_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "supervisor.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 1}))
    with pytest.raises(SystemExit, match=r"control\.token missing"):
        cli.main(["--state-dir", str(tmp_path), "gate", "global", "GO"])
