"""The synthetic canary trade (roadmap 98) under `quantops up`: real venue simulator, real ccxt,
real RiskGateway and supervisor; faults are injected through the simulator's /_sim API.

Healthy venue → ``CanaryPassed`` with every hop timed, canary-marked client ids on the venue, a
verifying canary event log outside ``eventlogs/``. Faulted venue or a broken ccxt path (wrong API
secret) → ``CanaryFailed`` naming the hop, the ``global`` gate set to PAUSE by the canary (an audited
``GateChanged``) and a NO_GO alert from the supervisor role in ``alerts.jsonl``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from quantops_trading.storage.eventlog import EventLog

QUANTOPS = [sys.executable, "-m", "quantops_local.cli"]
BOOK = "orderbook/binance-spot_BTC-USDT_L2top20_20240808-09_reconstructed.csv.gz"
TIMINGS = """  heartbeatSeconds: 0.5
  apiLossGraceSeconds: 3
  recoveryHoldSeconds: 1
  backoff: {initialSeconds: 0.5, maxSeconds: 5, staleAfterSeconds: 30}
"""


def manifest(secret: str) -> str:
    return f"""
apiVersion: quantops.dev/v1alpha1
kind: RiskPolicy
metadata: {{name: global}}
spec: {{gate: GO}}
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
        - {{key: canary-key, secret: canary-secret, balances: {{USDT: "1000", BTC: "0.01"}}}}
{TIMINGS}---
apiVersion: quantops.dev/v1alpha1
kind: Agent
metadata: {{name: canary}}
spec:
  role: canary
  dependsOn: [venue]
  config: {{apiKey: canary-key, apiSecret: {secret}, intervalSeconds: 1, hopTimeoutSeconds: 3}}
{TIMINGS}---
apiVersion: quantops.dev/v1alpha1
kind: Agent
metadata: {{name: boss}}
spec:
  role: supervisor
  dependsOn: [venue]
  config: {{pollSeconds: 0.25, snapshotSeconds: 1}}
{TIMINGS}"""


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
    def __init__(self, tmp: Path, secret: str) -> None:
        self.state = tmp / "state"
        (tmp / "platform.yaml").write_text(manifest(secret))
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

    def venue_url(self) -> str:
        port = next(a for a in self.status()["agents"] if a["name"] == "venue")["port"]
        return str(httpx.get(f"http://127.0.0.1:{port}/status", timeout=3).json()["work"]["venueUrl"])

    def audit(self, event: str) -> list[dict[str, Any]]:
        return [r for r in jsonl(self.state / "audit.jsonl") if r.get("event") == event]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)


@pytest.fixture
def healthy(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(tmp_path, "canary-secret")
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
    orders = httpx.get(f"{p.venue_url()}/_sim/state", timeout=3).json()["orders"]
    assert orders and all(o["clientOrderId"].startswith("canary") for o in orders)
    assert {o["status"] for o in orders} == {"FILLED"}  # marketable round trip: nothing left working
    assert p.status()["gates"]["RiskPolicy/global"] == "GO"
    assert not (p.state / "eventlogs").exists()  # canary events stay out of the strategies' PnL logs
    # the venue's order endpoint breaks: the next run fails at the venue hop and raises NO_GO
    fault = {"kind": "server_error", "path": "/api/v3/order", "method": "POST", "status": 502}
    assert httpx.post(f"{p.venue_url()}/_sim/faults", json=fault, timeout=3).status_code == 200
    failed = wait_for(lambda: p.audit("CanaryFailed"), 60, "a CanaryFailed record")[0]
    assert failed["hop"] == "venue" and failed["reason"]
    flip = wait_for(
        lambda: [g for g in p.audit("GateChanged") if g["scope"] == "RiskPolicy/global"], 10, "the gate flip"
    )[0]
    assert (flip["old"], flip["new"], flip["who"]) == ("GO", "PAUSE", "canary")
    assert flip["reason"].startswith("canary failed at venue")
    assert p.status()["gates"]["RiskPolicy/global"] == "PAUSE"
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
    wait_for(lambda: p.audit("CanarySkipped"), 10, "the canary standing down under PAUSE")
    p.stop()
    with EventLog(p.state / "canary" / "canary.sqlite") as log:
        log.verify()
        kinds = [e.data().get("kind") for e in log.entries()]
    assert "order_filled" in kinds and "order_submitted" in kinds


def test_canary_fails_closed_when_the_ccxt_path_is_broken(bad_secret: Platform) -> None:
    p = bad_secret
    failed = wait_for(lambda: p.audit("CanaryFailed"), 60, "a CanaryFailed record")[0]
    assert failed["hop"] in ("venue", "risk+venue") and "signature" in failed["reason"].lower()
    assert not p.audit("CanaryPassed")
    wait_for(lambda: p.status()["gates"]["RiskPolicy/global"] == "PAUSE", 10, "global PAUSE")


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
