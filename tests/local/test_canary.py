"""The synthetic canary trade (roadmap 98) under `quantops up`: real venue simulator, real ccxt,
real RiskGateway and supervisor; faults are injected through the simulator's /_sim API.

Healthy venue → ``CanaryPassed`` with every hop timed, canary-marked client ids on the venue, a
verifying canary event log outside ``eventlogs/``. Faulted venue or a broken ccxt path (wrong API
secret) → ``CanaryFailed`` naming the hop and the cause, the ``global`` gate set to PAUSE by the
canary (an audited ``GateChanged``) and a NO_GO alert from the supervisor role in ``alerts.jsonl``.
A burst of 429s is a transient venue fault: once the faults are cleared the canary lifts its own
NO_GO after ``recoverAfterPasses`` read-only passes in a row. A strategy's STOP, or the canary's own
loss streak (every round trip pays spread and fees), never makes the canary fail; a human STOP on
its path is a skip, and the canary never lifts it.
"""

from __future__ import annotations

import getpass
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from supervisor_support import cli_headers, sim_headers

from quantops_trading.storage.eventlog import EventLog

QUANTOPS = [sys.executable, "-m", "quantops_local.cli"]
PERSON = f"cli:{getpass.getuser()}"  # who the supervisor records for the run token's holder
CANARY = "agent/canary"  # ... and for the canary agent's own credential
BOOK = "orderbook/binance-spot_BTC-USDT_L2top20_20240808-09_reconstructed.csv.gz"
TIMINGS = """  heartbeatSeconds: 0.5
  apiLossGraceSeconds: 3
  recoveryHoldSeconds: 1
  backoff: {initialSeconds: 0.5, maxSeconds: 5, staleAfterSeconds: 30}
"""


def manifest(canary: str = "", policy: str = "", extra: str = "") -> str:
    """``canary``: extra spec.config keys of the canary; ``policy``: of the global RiskPolicy's spec."""
    return f"""
apiVersion: quantops.dev/v1alpha1
kind: RiskPolicy
metadata: {{name: global}}
spec: {{gate: GO{policy}}}
---
apiVersion: quantops.dev/v1alpha1
kind: Agent
metadata: {{name: venue}}
spec:
  role: venue-sim
  config:
    venue:
      name: venue-sim
      speed: 10
      symbols:
        - {{symbol: BTC/USDT, base: BTC, quote: USDT, bookFile: {BOOK}}}
      apiKeys:
        - {{secretRef: sim-canary, balances: {{USDT: "1000", BTC: "0.01"}}}}
{TIMINGS}---
apiVersion: quantops.dev/v1alpha1
kind: Agent
metadata: {{name: canary}}
spec:
  role: canary
  dependsOn: [venue]
  config: {{exchangeSecret: canary-keys, intervalSeconds: 1, hopTimeoutSeconds: 3{canary}}}
{TIMINGS}---
apiVersion: quantops.dev/v1alpha1
kind: Agent
metadata: {{name: boss}}
spec:
  role: supervisor
  dependsOn: [venue]
  config: {{pollSeconds: 0.25, snapshotSeconds: 1}}
{TIMINGS}{extra}"""


def wait_for(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (httpx.HTTPError, json.JSONDecodeError, KeyError, StopIteration, FileNotFoundError):
            last = None
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


def jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


class Platform:
    def __init__(self, tmp: Path, secret: str, **manifest_parts: str) -> None:
        self.state = tmp / "state"
        (tmp / "platform.yaml").write_text(manifest(**manifest_parts))
        # the simulator's account and the canary's keys, as two Secrets (quantops up keeps them)
        for name, value in (("sim-canary", "canary-secret"), ("canary-keys", secret)):
            (self.state / "secrets" / name).mkdir(parents=True)
            (self.state / "secrets" / name / "apiKey").write_text("canary-key")
            (self.state / "secrets" / name / "secret").write_text(value)
        self.proc = subprocess.Popen(
            [
                *QUANTOPS,
                "--state-dir",
                str(self.state),
                "up",
                "-f",
                str(tmp / "platform.yaml"),
                "--duration",
                "120",
                "--no-postmortem",
            ],
            stdout=(tmp / "up.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

    def status(self) -> dict[str, Any]:
        url = json.loads((self.state / "supervisor.json").read_text())["url"]
        return dict(httpx.get(f"{url}/api/status", timeout=3).json())

    def sim(self) -> dict[str, str]:
        """The venue's /_sim control token (derived from this run's token)."""
        return sim_headers(self.state, "venue")

    def venue_url(self) -> str:
        port = next(a for a in self.status()["agents"] if a["name"] == "venue")["port"]
        return str(httpx.get(f"http://127.0.0.1:{port}/status", timeout=3).json()["work"]["venueUrl"])

    def audit(self, event: str) -> list[dict[str, Any]]:
        return [r for r in jsonl(self.state / "audit.jsonl") if r.get("event") == event]

    def records(self) -> list[dict[str, Any]]:
        """The canary's records and the global gate's changes, in the order they were written."""
        return [
            r
            for r in jsonl(self.state / "audit.jsonl")
            if str(r.get("event", "")).startswith("Canary")
            or (r.get("event") == "GateChanged" and r.get("scope") == "RiskPolicy/global")
        ]

    def set_gate(self, scope: str, gate: str, reason: str, who: str) -> None:
        url = json.loads((self.state / "supervisor.json").read_text())["url"]
        body = {"scope": scope, "gate": gate, "reason": reason, "who": who}  # who: free text only
        assert (
            httpx.post(f"{url}/api/gate", json=body, headers=cli_headers(self.state), timeout=3).status_code
            == 200
        )

    def global_gate(self) -> str:
        return str(self.status()["gates"]["RiskPolicy/global"])

    def canary_runs(self) -> dict[str, int]:
        port = next(a for a in self.status()["agents"] if a["name"] == "canary")["port"]
        return dict(httpx.get(f"http://127.0.0.1:{port}/status", timeout=3).json()["work"]["runs"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)


@pytest.fixture
def healthy(tmp_path: Path) -> Iterator[Platform]:
    # a NO_GO that lasts: this test looks at the raise and the alert, not at the lift
    p = Platform(tmp_path, "canary-secret", canary=", recoverAfterPasses: 1000")
    yield p
    p.stop()


@pytest.fixture
def recovering(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(tmp_path, "canary-secret", canary=", recoverAfterPasses: 3")
    yield p
    p.stop()


STRATEGY = """---
apiVersion: quantops.dev/v1alpha1
kind: Strategy
metadata: {name: btc-momentum}
spec:
  entrypoint: quantops_trading.strategies.momentum:Momentum
  params: {fast: 12, slow: 48}
  pairs: [BTC/USDT]
  venues: [venue-sim]
"""


@pytest.fixture
def strategy_stop(tmp_path: Path) -> Iterator[Platform]:
    # maxConsecutiveLosses 1: before the fix, the canary's first losing round trip STOPped its own
    # strategy scope and the next run failed with "gate STOP" → NO_GO on global
    p = Platform(tmp_path, "canary-secret", policy=", maxConsecutiveLosses: 1", extra=STRATEGY)
    yield p
    p.stop()


@pytest.fixture
def bad_secret(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(tmp_path, "not-the-secret")
    yield p
    p.stop()


def test_canary_passes_on_a_healthy_venue_then_raises_no_go_when_the_venue_faults(
    healthy: Platform,
) -> None:
    p = healthy
    passed = wait_for(lambda: p.audit("CanaryPassed"), 60, "a CanaryPassed record")[0]
    assert {"signal", "risk+venue", "fill", "unwind.risk+venue", "unwind.fill"} <= set(passed["hops"])
    assert passed["symbol"] == "BTC/USDT" and passed["agent"] == "canary"
    state = httpx.get(f"{p.venue_url()}/_sim/state", headers=p.sim(), timeout=3).json()
    orders = state["orders"]
    assert orders and all(o["clientOrderId"].startswith("canary") for o in orders)
    assert {o["status"] for o in orders} == {"FILLED"}  # marketable round trip: nothing left working
    # the venue keeps a buy's fee in BTC; the canary sells what it was credited, so its round trips
    # pay fees in USDT and never drain the account's BTC (0.01: selling what it bought would empty
    # it after about a thousand runs)
    (account,) = [b for b in state["balances"].values() if "BTC" in b]
    assert Decimal(account["BTC"]) == Decimal("0.01"), state["balances"]
    assert p.status()["gates"]["RiskPolicy/global"] == "GO"
    assert not (p.state / "eventlogs").exists()  # canary events stay out of the strategies' PnL logs
    # the venue's order endpoint breaks: the next run fails at the venue hop and raises NO_GO
    fault = {"kind": "server_error", "path": "/api/v3/order", "method": "POST", "status": 502}
    assert (
        httpx.post(f"{p.venue_url()}/_sim/faults", json=fault, headers=p.sim(), timeout=3).status_code == 200
    )
    failed = wait_for(lambda: p.audit("CanaryFailed"), 60, "a CanaryFailed record")[0]
    assert failed["hop"] == "venue" and failed["reason"]
    flip = wait_for(
        lambda: [g for g in p.audit("GateChanged") if g["scope"] == "RiskPolicy/global"], 10, "the gate flip"
    )[0]
    assert (flip["old"], flip["new"], flip["who"]) == ("GO", "PAUSE", CANARY)
    assert failed["cause"] == "transient-venue-fault" and failed["transient"] is True
    assert flip["reason"].startswith("canary NO_GO (transient-venue-fault, was GO): venue: ")
    assert p.global_gate() == "PAUSE"
    alert = wait_for(
        lambda: [
            a
            for a in jsonl(p.state / "alerts.jsonl")
            if a.get("state") == "NO_GO" and a.get("scope") == "RiskPolicy/global"
        ],
        15,
        "a NO_GO alert for RiskPolicy/global",
    )[0]
    assert alert["severity"] == "warning"
    # under its own NO_GO the canary keeps probing, read-only: no order goes out under PAUSE
    sent = len(httpx.get(f"{p.venue_url()}/_sim/state", headers=p.sim(), timeout=3).json()["orders"])
    wait_for(
        lambda: [r for r in p.audit("CanaryPassed") if r["probe"] == "read-only"],
        15,
        "a read-only probe under the canary's own PAUSE",
    )
    assert len(httpx.get(f"{p.venue_url()}/_sim/state", headers=p.sim(), timeout=3).json()["orders"]) == sent
    assert p.global_gate() == "PAUSE"
    p.stop()
    with EventLog(p.state / "canary" / "canary.sqlite") as log:
        log.verify()
        kinds = [e.data().get("kind") for e in log.entries()]
    assert "order_filled" in kinds and "order_submitted" in kinds


def test_canary_fails_closed_when_the_ccxt_path_is_broken(bad_secret: Platform) -> None:
    p = bad_secret
    failed = wait_for(lambda: p.audit("CanaryFailed"), 60, "a CanaryFailed record")[0]
    assert failed["hop"] in ("venue", "risk+venue") and "signature" in failed["reason"].lower()
    assert failed["cause"] == "platform" and failed["transient"] is False
    assert "until a person lifts it" in failed["gate"]
    assert not p.audit("CanaryPassed")
    wait_for(lambda: p.global_gate() == "PAUSE", 10, "global PAUSE")


def test_a_burst_of_429s_pauses_and_the_canary_lifts_its_own_no_go_after_3_passes(
    recovering: Platform,
) -> None:
    p = recovering
    wait_for(lambda: p.audit("CanaryPassed"), 60, "a first CanaryPassed")
    fault = {"kind": "rate_limit", "path": "/api/v3/order"}  # every method: the order lookup too
    assert (
        httpx.post(f"{p.venue_url()}/_sim/faults", json=fault, headers=p.sim(), timeout=3).status_code == 200
    )
    wait_for(lambda: p.global_gate() == "PAUSE", 30, "the canary's NO_GO")
    wait_for(lambda: len(p.audit("CanaryFailed")) >= 2, 15, "a failing probe under the NO_GO")
    assert p.global_gate() == "PAUSE"  # still faulted: no lift
    assert httpx.delete(f"{p.venue_url()}/_sim/faults", headers=p.sim(), timeout=3).status_code == 200
    wait_for(lambda: p.audit("CanaryRecovered"), 30, "the canary lifting its NO_GO")
    wait_for(lambda: p.global_gate() == "GO", 10, "global back to GO")
    wait_for(
        lambda: [r for r in p.audit("CanaryPassed")[1:] if r["probe"] == "round-trip"],
        30,
        "a full round trip after the lift",
    )
    recs = p.records()
    kinds = [r["event"] for r in recs]
    first_fail = kinds.index("CanaryFailed")
    assert recs[first_fail]["cause"] == "transient-venue-fault" and recs[first_fail]["transient"] is True
    assert "RateLimited" in recs[first_fail]["reason"]
    raise_at = kinds.index("GateChanged", first_fail)
    raised = recs[raise_at]
    assert (raised["old"], raised["new"], raised["who"]) == ("GO", "PAUSE", CANARY)
    assert raised["reason"].startswith("canary NO_GO (transient-venue-fault, was GO)")
    recovered_at = kinds.index("CanaryRecovered")
    lift = recs[recovered_at + 1]
    assert lift["event"] == "GateChanged" and (lift["old"], lift["new"], lift["who"]) == (
        "PAUSE",
        "GO",
        CANARY,
    )
    assert recs[recovered_at]["passes"] == 3 and recs[recovered_at]["new"] == "GO"
    held = recs[raise_at + 1 : recovered_at]
    assert held and all(r["probe"] == "read-only" for r in held)  # no order while PAUSEd
    assert [r["event"] for r in held[-3:]] == ["CanaryPassed"] * 3  # 3 passes in a row lift it
    assert "CanaryFailed" in [r["event"] for r in held]  # the faults were still there at first
    assert [g for g in p.audit("GateChanged") if g["scope"] == "RiskPolicy/global"] == [raised, lift]


def test_a_strategy_stop_never_makes_the_canary_fail_and_a_human_stop_is_a_skip(
    strategy_stop: Platform,
) -> None:
    p = strategy_stop
    wait_for(lambda: len(p.audit("CanaryPassed")) >= 3, 60, "three round trips (each one a loss)")
    p.set_gate("strategy/btc-momentum", "STOP", "5 consecutive losses", "risk-engine")
    since = len(p.records())
    n = len(p.audit("CanaryPassed"))
    wait_for(lambda: len(p.audit("CanaryPassed")) >= n + 3, 30, "round trips under the strategy STOP")
    assert {r["event"] for r in p.records()[since:]} == {"CanaryPassed"}
    assert not p.audit("CanaryFailed") and p.global_gate() == "GO"
    # a human STOP on the canary's path: a skip with the reason, never a NO_GO, never lifted
    p.set_gate("global", "STOP", "maintenance", "cli")
    skipped = wait_for(
        lambda: [r for r in p.audit("CanarySkipped") if r["reason"] == "RiskPolicy/global is STOP"],
        15,
        "the canary standing down",
    )
    assert len(skipped) == 1  # audited once, not every interval
    k = p.canary_runs()["skipped"]
    wait_for(lambda: p.canary_runs()["skipped"] >= k + 3, 15, "three more runs under the human STOP")
    assert p.global_gate() == "STOP" and not p.audit("CanaryFailed")
    p.set_gate("global", "GO", "done", "cli")
    n = len(p.audit("CanaryPassed"))
    wait_for(lambda: len(p.audit("CanaryPassed")) > n, 30, "the canary back at work")
    changes = [(g["new"], g["who"]) for g in p.audit("GateChanged") if g["scope"] == "RiskPolicy/global"]
    assert changes == [("STOP", PERSON), ("GO", PERSON)]


def test_canary_ids_and_prices_are_venue_safe() -> None:
    from decimal import Decimal

    from quantops_trading.execution.client_ids import CLIENT_ID_PATTERN, client_order_id, is_ours
    from quantops_trading.execution.types import MarketRules, Side
    from quantops_trading.runtime.canary_role import CanaryPort, CanaryWork

    coid = client_order_id("canary", "1700000000000-1")
    marked = CanaryPort.mark(coid)
    assert marked.startswith("canary") and marked.endswith(coid[2:]) and len(marked) <= 36
    assert CLIENT_ID_PATTERN.match(marked) and not is_ours(marked)  # strategies' reconciliation skips it
    rules = MarketRules(
        symbol="BTC/USDT",
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.00001"),
        min_qty=Decimal("0.00001"),
        min_notional=Decimal("5"),
    )
    work = CanaryWork({"slippageBps": 100})
    assert work._marketable(Side.BUY, Decimal("60000.00"), rules) == Decimal("60600.00")
    assert work._marketable(Side.SELL, Decimal("60000.00"), rules) == Decimal("59400.00")
    assert work._marketable(Side.BUY, Decimal("1.01"), rules) == Decimal("1.03")  # rounds away: still crosses
