"""CanaryWork (roadmap 98): a tiny synthetic round trip through the whole path, on a schedule.

Why it exists: a platform can look green — agents Ready, gates GO — while orders cannot actually
reach the venue (bad keys, a broken ccxt path, a faulted venue). Every ``intervalSeconds`` the canary
proves the path end to end with real components: a :class:`Signal` → sized :class:`Intent` →
:class:`RiskGateway` (the agent's gates, the ``global`` RiskPolicy) → ccxt → the venue simulator →
the fill read back with ``fetch_my_trades`` → the risk book's accounting, then the same quantity
back (the canary ends flat). Each hop is checked and timed; the run is audited as ``CanaryPassed``
or ``CanaryFailed`` (with the failing hop, the reason and the cause) in
``$QUANTOPS_STATE_DIR/audit.jsonl``.

Canary orders are marked: strategy id ``canary`` and client order ids starting ``canary`` (the
gateway's deterministic id with its ``qo`` prefix swapped), and their events go to
``<state>/canary/canary.sqlite`` — not ``eventlogs/`` — so no strategy's PnL includes them.
The canary's account needs a little of the base asset too: the venue takes the buy's fee in the
asset bought, so selling the same quantity back draws on that float (a few satoshis per run).
Every round trip loses the spread and the fees — that is the probe's price, not a trading signal —
so the canary's gateway does not count its loss streak (see :class:`_ProbeCost`): before, the
global policy's ``maxConsecutiveLosses``-th losing round trip STOPped ``strategy/canary`` and the
next run failed with "gate STOP", pausing the whole platform for a kill switch of the canary's own.

**Only the path it tests.** Before each run the canary lists every gate or kill switch on its path
that is not its own NO_GO (``canary_policy.foreign_restrictions``): the agent's control-plane gates
(a human STOP), its kill switches, the control plane being unreachable, its gateway's switches. Any
of them makes the run a ``CanarySkipped`` with that reason — never a failure, never a NO_GO. A
gate that flips to a restriction during a run (the gateway denies only for ``gate`` reasons, or
records under CHECK) is a skip too.

**NO_GO, and its lift.** A failure is classified (``canary_policy.classify``) as a transient
venue fault (429/418, 5xx, maintenance, timeouts, dropped connections, clock skew, a breaker open)
or a platform failure (keys/signatures, a venue rejection, a fill not booked, wrong accounting, a
risk denial, an exception in our code). Either raises NO_GO: ``gateScope`` (default ``global``)
goes to ``failGate`` (default PAUSE), never lowering a gate already as restrictive, with the
reason — ``CanaryFailed`` (``cause``, ``transient``) then ``GateChanged``. A NO_GO raised on a
transient fault is lifted by the canary after ``recoverAfterPasses`` (default 3) passes in a row —
``CanaryRecovered`` then ``GateChanged`` back to the value it had before — but only while the gate
still reads as the canary's own write (same value, writer ``canary/<agent>`` and reason). Anyone
else's change to it since (a human STOP, a PAUSE by someone else, a person lifting it) ends the
canary's claim (``CanaryReleased``); it never touches that gate again. A platform failure's NO_GO
stays until a person lifts it. A relapse right after a lift doubles the passes the next lift needs.

**Probes under its own NO_GO.** The gateway never sends an order a gate forbids, and the canary's
own PAUSE is a gate on its path, so under it the canary runs a read-only path check instead of the
round trip: markets, the order book, the balance and open orders (signed: keys, signature and
clock), and a lookup on the order endpoint of a client id nobody used (the venue must answer "no
such order"). It proves the venue answers and our keys work; it cannot prove an order fills,
which is why the first run after a lift — a full round trip again — is on probation (see
``NoGoLatch``). When ``gateScope`` is not on the canary's own path (e.g. ``agent/trader``), nothing
forbids its order and it keeps running the full round trip under its NO_GO.

**Where the gate is set** (:class:`GateSetter`): under ``quantops up`` through the supervisor's
``POST /api/gate`` (:class:`LocalGateSetter`; the supervisor audits the ``GateChanged``); on
Kubernetes (``rt.control`` is a ``KubeControl``) by a merge patch of the object's ``spec.gate``
with the ``quantops.dev/gate-changed-by`` / ``quantops.dev/gate-reason`` annotations, field manager
``canary/<agent>``, a resourceVersion precondition and a Kubernetes Event
(:class:`KubeGateSetter`; the canary audits the ``GateChanged`` itself). The agent's
ServiceAccount needs ``get`` and ``patch`` on the object's resource (``riskpolicies`` for the
default ``global``).

What it must not do: send an order outside the risk gateway, lift a gate it does not own, or
count its own probe costs as a strategy's losses.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from quantops_api import Gate
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_api.v1alpha1.roleconfig import CanaryConfig
from quantops_trading.adapters.ccxt import CcxtExecutionClient, make_binance
from quantops_trading.adapters.ccxt.credentials import load_credentials
from quantops_trading.execution.errors import ConfigurationError, OrderNotFound, TradingError
from quantops_trading.execution.types import (
    Fill,
    MarketRules,
    OrderBook,
    OrderIntent,
    Side,
    VenueOrder,
)
from quantops_trading.model.events import OrderFilled, OrderSubmitted
from quantops_trading.model.ids import InstrumentId
from quantops_trading.risk import RiskGateway
from quantops_trading.risk.events import to_model_order
from quantops_trading.risk.killswitches import (
    GLOBAL,
    ConsecutiveLosses,
    SwitchAction,
    pair_scope,
    strategy_scope,
)
from quantops_trading.runtime.agent import AgentRuntime, IdleWork
from quantops_trading.runtime.canary_policy import (
    GATE_CHANGED_BY,
    GATE_REASON,
    Cause,
    Decision,
    GateReading,
    Keep,
    Lift,
    NoGoLatch,
    Raise,
    Release,
    classify,
    foreign_restrictions,
    reading_from_object,
    scope_key,
)
from quantops_trading.runtime.control import KubeControl, KubeCredentials
from quantops_trading.runtime.discovery import discover_venue
from quantops_trading.runtime.gatestate import GateState
from quantops_trading.runtime.roleconfig import config_or_exit
from quantops_trading.storage.eventlog import EventLog
from quantops_trading.strategy import Intent, Signal

if TYPE_CHECKING:
    from quantops_trading.observability.kube_events import KubeEventRecorder

__all__ = [
    "CANARY_PREFIX",
    "CANARY_STRATEGY",
    "GATE_CHANGED_BY",
    "GATE_REASON",
    "CanaryClient",
    "CanaryFailure",
    "CanaryPort",
    "CanarySkip",
    "CanaryWork",
    "GateChange",
    "GateConflict",
    "GateSetError",
    "GateSetter",
    "KubeGateSetter",
    "LocalGateSetter",
    "NoControlPlane",
    "gate_setter_for",
    "reading_from_object",
]

CANARY_STRATEGY = "canary"
CANARY_PREFIX = "canary"


class CanaryFailure(Exception):
    """One hop of the canary's path did not do what it must; ``cause`` says whose fault it is."""

    def __init__(self, hop: str, reason: str, cause: Cause = Cause.PLATFORM) -> None:
        super().__init__(f"{hop}: {reason}")
        self.hop, self.reason, self.cause = hop, reason, cause


class CanarySkip(Exception):
    """A gate that is not the canary's own stopped a run midway (it flipped during the run)."""


def _failure(hop: str, e: BaseException) -> CanaryFailure:
    return CanaryFailure(hop, f"{type(e).__name__}: {e}", classify(e))


class CanaryClient(Protocol):
    """What the canary uses of an :class:`ExecutionClient` (``CcxtExecutionClient`` in production)."""

    venue: str

    async def load_markets(self) -> dict[str, MarketRules]: ...
    async def fetch_order_book(self, symbol: str, limit: int = 20) -> OrderBook: ...
    async def fetch_balance(self) -> dict[str, Decimal]: ...
    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]: ...
    async def fetch_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder: ...
    async def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[Fill]: ...
    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder: ...
    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder: ...
    async def close(self) -> None: ...


class CanaryPort:
    """The gateway's door to the venue, marking every client order id as the canary's."""

    def __init__(self, client: CanaryClient) -> None:
        self.client = client
        self.venue = client.venue

    @staticmethod
    def mark(client_order_id: str) -> str:
        """``qo<hash>-<n>`` → ``canary<hash>-<n>`` (36 chars, Binance's limit)."""
        return CANARY_PREFIX + client_order_id.removeprefix("qo")

    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder:
        return await self.client.create_order(intent, self.mark(client_order_id))

    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        coid = self.mark(client_order_id) if client_order_id else None
        return await self.client.cancel_order(symbol, venue_order_id=venue_order_id, client_order_id=coid)


class _ProbeCost(ConsecutiveLosses):
    """The canary's loss streak is its price, not a signal: it never trips ``consecutive_losses``.

    Every canary round trip pays the spread and two fees, so nearly every close is a loss; counted
    like a strategy's, the global policy's ``maxConsecutiveLosses``-th run STOPped ``strategy/canary``
    for ``lossCooldownSeconds`` and the following run failed "gate STOP" → NO_GO on ``global``.
    """

    def on_close(
        self, strategy: str, realised: Decimal, now: float, policy: RiskPolicySpec
    ) -> list[SwitchAction]:
        return []


# -- setting a gate -------------------------------------------------------------------------------
class GateSetError(Exception):
    """The gate could not be read or set (control plane down, forbidden, no such object)."""


class GateConflict(GateSetError):
    """The gate changed between the read the decision was made on and the write."""


@dataclasses.dataclass(frozen=True, slots=True)
class GateChange:
    """A gate write the control plane accepted; ``audited``: it wrote the ``GateChanged`` itself."""

    scope: str
    old: Gate
    new: Gate
    who: str
    reason: str
    audited: bool
    note: str = ""


class GateSetter(Protocol):
    """Read and set one gate (``Kind/name``) on the control plane the agent runs under."""

    who: str

    async def read(self, scope: str) -> GateReading: ...
    async def set(
        self, scope: str, gate: Gate, reason: str, *, base: GateReading, event: str, warning: bool
    ) -> GateChange: ...
    async def close(self) -> None: ...


class NoControlPlane:
    """No supervisor URL and not on Kubernetes: nothing to set a gate on (and it says so)."""

    def __init__(self, who: str) -> None:
        self.who = who

    async def read(self, scope: str) -> GateReading:
        raise GateSetError("no control plane to set the gate on")

    async def set(
        self, scope: str, gate: Gate, reason: str, *, base: GateReading, event: str, warning: bool
    ) -> GateChange:
        raise GateSetError("no control plane to set the gate on")

    async def close(self) -> None:
        return None


def last_gate_change(path: Path, scope: str, block: int = 1 << 16) -> dict[str, Any]:
    """The newest ``GateChanged`` record for ``scope`` in an audit.jsonl, read from the end."""
    try:
        f = path.open("rb")
    except OSError:  # no audit log (yet): nobody is on record
        return {}
    needle = json.dumps(scope).encode()
    with f:
        end = f.seek(0, os.SEEK_END)
        carry = b""
        while end > 0:
            start = max(0, end - block)
            f.seek(start)
            lines = (f.read(end - start) + carry).split(b"\n")
            carry, complete = (lines[0], lines[1:]) if start > 0 else (b"", lines)
            for line in reversed(complete):
                if b"GateChanged" not in line or needle not in line:
                    continue
                with contextlib.suppress(ValueError):
                    rec = json.loads(line)
                    if rec.get("event") == "GateChanged" and rec.get("scope") == scope:
                        return dict(rec)
            end = start
    return {}


class LocalGateSetter:
    """``quantops up``: the supervisor's ``/api/status`` and ``POST /api/gate``; who changed a gate
    last comes from the newest ``GateChanged`` record in the supervisor's audit.jsonl.

    The supervisor has no compare-and-set: :meth:`set` re-reads just before writing and refuses if
    the gate changed since ``base`` (a window of one request remains). A set to the value a gate
    already has is a no-op the supervisor does not record, so it cannot be told apart from none.

    The supervisor records as ``who`` the principal of the agent's credential (``token``, default
    ``$QUANTOPS_CONTROL_TOKEN``), not anything the canary says: ``agent/<name>``. That is this
    setter's :attr:`who` — what its own writes read back as — so ``who`` given as ``canary/<name>``
    (the Kubernetes field manager) becomes ``agent/<name>`` here.
    """

    def __init__(
        self,
        url: str,
        state_dir: Path,
        who: str,
        http: httpx.AsyncClient | None = None,
        token: str | None = None,
    ) -> None:
        self.url, self.state_dir = url.rstrip("/"), state_dir
        self.who = f"agent/{who.partition('/')[2] or who}"
        token = token if token is not None else os.environ.get("QUANTOPS_CONTROL_TOKEN", "")
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0))

    async def read(self, scope: str) -> GateReading:
        try:
            r = await self._http.get(f"{self.url}/api/status", headers=self._auth)
            r.raise_for_status()
            gates = r.json()["gates"]
            if scope not in gates:
                raise GateSetError(f"{scope} does not exist")
            gate = Gate(gates[scope])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
            raise GateSetError(f"supervisor status: {type(e).__name__}: {e}") from e
        rec = last_gate_change(self.state_dir / "audit.jsonl", scope)
        return GateReading(gate, str(rec.get("who", "")), str(rec.get("reason", "")), str(rec.get("at", "")))

    async def set(
        self, scope: str, gate: Gate, reason: str, *, base: GateReading, event: str, warning: bool
    ) -> GateChange:
        now = await self.read(scope)
        if (now.gate, now.version) != (base.gate, base.version):
            raise GateConflict(f"{scope} changed since it was read ({base.gate.value} → {now.gate.value})")
        body = {"scope": scope, "gate": gate.value, "reason": reason}
        try:
            r = await self._http.post(f"{self.url}/api/gate", json=body, headers=self._auth)
            out = r.json()
        except (httpx.HTTPError, ValueError) as e:
            raise GateSetError(f"gate not set: {type(e).__name__}: {e}") from e
        if r.status_code != 200:
            raise GateSetError(f"gate not set: HTTP {r.status_code}: {out.get('error', out)}")
        try:
            old, new = Gate(out["old"]), Gate(out["new"])
        except (KeyError, ValueError, TypeError) as e:
            raise GateSetError(f"gate set, answer unreadable: {out!r}") from e
        return GateChange(scope, old, new, str(out.get("who") or self.who), reason, audited=True)

    async def close(self) -> None:
        await self._http.aclose()


_PLURALS = {"RiskPolicy": "riskpolicies", "Agent": "agents", "Strategy": "strategies"}


class KubeGateSetter:
    """Kubernetes: merge-patch ``spec.gate`` of the gate's object, recording who and why.

    The patch carries ``metadata.resourceVersion`` from the read the decision was made on, so the
    API server refuses it (409) if anything changed since; the field manager is ``who``
    (``canary/<agent>``), which the operator's GateChanged Event names. A Kubernetes Event about the
    object is recorded when a recorder is given.
    """

    def __init__(
        self,
        creds: KubeCredentials,
        who: str,
        *,
        recorder: KubeEventRecorder | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.who, self.ns, self.recorder = who, creds.namespace, recorder
        self._http = http or httpx.AsyncClient(**creds.http_options())

    def _path(self, scope: str) -> tuple[str, str, str]:
        kind, _, name = scope.partition("/")
        plural = _PLURALS.get(kind)
        if plural is None or not name:
            raise GateSetError(f"{scope}: not a RiskPolicy, Agent or Strategy")
        return kind, name, f"/apis/quantops.dev/v1alpha1/namespaces/{self.ns}/{plural}/{name}"

    def _refused(self, r: httpx.Response, verb: str, scope: str, plural: str) -> GateSetError:
        if r.status_code == 403:
            return GateSetError(
                f"{verb} {scope} forbidden: the agent's ServiceAccount needs {verb} on "
                f"quantops.dev {plural} ({r.text[:200]})"
            )
        if r.status_code == 409:
            return GateConflict(f"{scope} changed since it was read: {r.text[:200]}")
        if r.status_code == 404:
            return GateSetError(f"{scope} does not exist in namespace {self.ns}")
        return GateSetError(f"{verb} {scope}: HTTP {r.status_code} {r.text[:200]}")

    async def read(self, scope: str) -> GateReading:
        _, _, path = self._path(scope)
        try:
            r = await self._http.get(path)
        except httpx.HTTPError as e:
            raise GateSetError(f"get {scope}: {type(e).__name__}: {e}") from e
        if r.status_code >= 400:
            raise self._refused(r, "get", scope, path.rsplit("/", 2)[-2])
        try:
            return reading_from_object(r.json(), self.who)
        except ValueError as e:  # not JSON, or a gate value no CRD allows
            raise GateSetError(f"get {scope}: {e}") from e

    async def set(
        self, scope: str, gate: Gate, reason: str, *, base: GateReading, event: str, warning: bool
    ) -> GateChange:
        kind, name, path = self._path(scope)
        meta: dict[str, Any] = {"annotations": {GATE_CHANGED_BY: self.who, GATE_REASON: reason}}
        if base.version:
            meta["resourceVersion"] = base.version
        try:
            r = await self._http.patch(
                path,
                content=json.dumps({"metadata": meta, "spec": {"gate": gate.value}}),
                params={"fieldManager": self.who},
                headers={"Content-Type": "application/merge-patch+json"},
            )
        except httpx.HTTPError as e:
            raise GateSetError(f"patch {scope}: {type(e).__name__}: {e}") from e
        if r.status_code >= 400:
            raise self._refused(r, "patch", scope, path.rsplit("/", 2)[-2])
        note = ""
        if self.recorder is not None:
            from quantops_trading.observability.kube_events import ObjectRef

            text = f"gate {base.gate.value} → {gate.value} by {self.who}: {reason}"
            try:
                note = await self.recorder.record(
                    ObjectRef(kind, name), event, text, "Warning" if warning else "Normal", action="GateSet"
                )
            except (httpx.HTTPError, RuntimeError) as e:
                note = f"event not recorded: {e}"
        return GateChange(scope, base.gate, gate, self.who, reason, audited=False, note=note)

    async def close(self) -> None:
        if self.recorder is not None:
            await self.recorder.close()
        await self._http.aclose()


def gate_setter_for(rt: AgentRuntime, control_url: str, state_dir: Path, who: str) -> GateSetter:
    """The setter for the control plane the agent runs under (``rt.control``'s type decides)."""
    if isinstance(rt.control, KubeControl):
        from quantops_trading.observability.kube_events import KubeEventRecorder

        creds = rt.control.creds
        recorder = KubeEventRecorder(
            creds, agent=rt.name, instance=f"{rt.name}-{rt.control.replica}", controller="quantops.dev/canary"
        )
        return KubeGateSetter(creds, who, recorder=recorder)
    if control_url:
        return LocalGateSetter(control_url, state_dir, who)
    return NoControlPlane(who)


# -- the canary -----------------------------------------------------------------------------------
class CanaryWork(IdleWork):
    def __init__(
        self,
        config: Mapping[str, Any] | CanaryConfig,
        agent_config: dict[str, Any] | None = None,
        state_dir: Path | None = None,
        control_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        agent_config = agent_config or {}
        cfg = self.cfg = config_or_exit(CanaryConfig, config)
        self.state_dir = state_dir or Path(os.environ.get("QUANTOPS_STATE_DIR", "."))
        self.control_url = (
            control_url if control_url is not None else os.environ.get("QUANTOPS_CONTROL_URL", "")
        )
        pols = agent_config.get("riskPolicies") or {}
        self.policy = RiskPolicySpec.model_validate(pols.get("global") or {})
        self.venue_agents = list(agent_config.get("venues") or {})
        self.interval_s = cfg.interval_seconds
        self.recheck_s = cfg.recheck_seconds
        self.hop_timeout_s = cfg.hop_timeout_seconds
        self.notional_margin = cfg.notional_margin
        self.gate_scope = cfg.gate_scope
        try:
            self.scope = scope_key(self.gate_scope)
            self.fail_gate = cfg.fail_gate
            recover_after = cfg.recover_after_passes
            self.latch = NoGoLatch(
                self.scope,
                self.fail_gate,
                f"canary/{CANARY_STRATEGY}",
                recover_after=recover_after,
                clock=clock,
            )
        except ValueError as e:
            raise SystemExit(f"spec.config (canary): {e}") from e
        self.symbol: str = cfg.symbol
        # The canary pays fees on purpose (its "edge" is evidence, not PnL); declaring an edge lets
        # the fee guard pass while every other risk rule still applies.
        self.edge_bps = cfg.expected_edge_bps
        self.slippage = cfg.slippage_bps
        self.agent, self.venue_url, self.venue = "", "", ""
        self.client: CanaryClient | None = None
        self.gateway: RiskGateway | None = None
        self.setter: GateSetter = NoControlPlane(self.latch.who)
        self._adoption_checked = False
        self.markets: dict[str, MarketRules] = {}
        self.log: EventLog | None = None
        self.runs = {"passed": 0, "failed": 0, "skipped": 0}
        self.last: dict[str, Any] | None = None
        self._seq = 0
        self.lock = asyncio.Lock()  # a run in progress finishes before flush closes the client

    # -- plumbing -----------------------------------------------------------------------------------
    def _audit(self, event: str, **fields: Any) -> None:
        rec = {"at": time.time(), "event": event, "agent": self.agent, **fields}
        line = json.dumps(rec, default=str)
        try:
            fd = os.open(self.state_dir / "audit.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except OSError as e:  # the log line below still carries the record
            rec["auditWriteError"] = str(e)
            line = json.dumps(rec, default=str)
        print(line, flush=True)

    def attach(self, client: CanaryClient, gates: GateState, setter: GateSetter) -> None:
        """Wire the venue client, the agent's gates and the gate setter (``run`` does; tests too)."""
        self.client, self.setter = client, setter
        self.venue = self.venue or client.venue
        self.latch.who = setter.who
        self.gateway = RiskGateway(CanaryPort(client), self.policy, gate_state=gates)
        self.gateway.losses = _ProbeCost()

    # -- loop ---------------------------------------------------------------------------------------
    async def run(self, rt: AgentRuntime) -> None:
        self.agent = rt.name
        try:  # the exchange Secret: injected as env by the operator, files under quantops up
            creds = load_credentials()
            key, secret = creds.api_key, creds.secret
        except ConfigurationError:
            key = secret = ""
        found = await discover_venue(
            rt.control,
            url=self.cfg.venue_url or "",
            want=self.cfg.venue_agent or (self.venue_agents or [None])[0],
            control_url=self.control_url,
            stopping=rt.stopping,
        )
        if found is not None:
            self.venue_url, self.venue = found.url, found.name
        refused = found.refuses_keys(self.cfg.venue_hosts) if found is not None else None
        if not self.venue_url or not key or not secret or refused:
            why = refused or ("no venue found" if not self.venue_url else "no exchange credentials")
            self.last = {"result": "idle", "reason": why}
            await rt.stopping.wait()
            return
        client = CcxtExecutionClient(
            make_binance(self.venue_url, str(key), str(secret)), self.venue or "venue"
        )
        self.attach(
            client, rt.gates, gate_setter_for(rt, self.control_url, self.state_dir, f"canary/{rt.name}")
        )
        (self.state_dir / "canary").mkdir(parents=True, exist_ok=True)
        self.log = EventLog(self.state_dir / "canary" / "canary.sqlite")
        while not rt.stopping.is_set():
            async with self.lock:
                if rt.stopping.is_set():
                    break
                await self.run_once(rt)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rt.stopping.wait(), self._next_run_in())

    def _next_run_in(self) -> float:
        """Seconds to the next run: ``recheckSeconds`` while a transient NO_GO of ours waits for its
        passes in a row (reads only: cheap), else ``intervalSeconds``."""
        hold = self.latch.hold
        if hold is not None and hold.cause is Cause.TRANSIENT:
            return min(self.interval_s, self.recheck_s)
        return self.interval_s

    def _gateway_gates(self) -> dict[str, Gate]:
        """The canary gateway's own restrictions on its path: switches, and the policy's spec.gate."""
        gw = self.gateway
        if gw is None:
            return {}
        scopes = [GLOBAL, strategy_scope(CANARY_STRATEGY), f"venue/{gw.client.venue}"]
        if self.symbol:
            scopes.append(pair_scope(self.symbol))
        out = {f"{s} {sw}": g for s in scopes for sw, g in gw.switches(s).items()}
        if gw.global_policy.gate is not Gate.GO:
            out["RiskPolicy/global spec.gate (as configured)"] = Gate(gw.global_policy.gate)
        return out

    def _foreign(self, rt: AgentRuntime) -> list[str]:
        return foreign_restrictions(
            rt.gates.gates,
            kill_switches=rt.gates.kill_switches,
            api_lost=rt.gates.api_lost(),
            gateway=self._gateway_gates(),
            own=self.latch.hold,
        )

    def _skip(self, why: str) -> dict[str, Any]:
        self.runs["skipped"] += 1
        before = self.last or {}
        self.last = {"result": "skipped", "reason": why}
        if before.get("result") != "skipped" or before.get("reason") != why:  # transitions only
            self._audit("CanarySkipped", reason=why)
        return self.last

    def _releases(self, decisions: list[Decision]) -> list[str]:
        notes = []
        for d in decisions:
            if isinstance(d, Release):
                self._audit("CanaryReleased", scope=d.scope, reason=d.reason)
                notes.append(d.reason)
            elif isinstance(d, Keep):
                notes.append(d.note)
        return notes

    async def _set(
        self, scope: str, gate: Gate, reason: str, base: GateReading, *, warning: bool
    ) -> GateChange | None:
        event = "CanaryNoGo" if warning else "CanaryRecovered"
        try:
            change = await self.setter.set(scope, gate, reason, base=base, event=event, warning=warning)
        except GateSetError as e:
            self._audit("CanaryGateNotSet", scope=scope, gate=gate.value, reason=str(e))
            return None
        if not change.audited:  # Kubernetes: no supervisor writes the audit record for us
            self._audit(
                "GateChanged",
                scope=change.scope,
                old=change.old.value,
                new=change.new.value,
                reason=reason,
                who=change.who,
                kubeEvent=change.note,
            )
        return change

    async def run_once(self, rt: AgentRuntime) -> dict[str, Any]:
        """One canary run: stand down, probe (full or read-only), then raise, keep or lift NO_GO."""
        notes: list[str] = []
        reading: GateReading | None = None
        if not self._adoption_checked and not isinstance(self.setter, NoControlPlane):
            try:  # a NO_GO this canary raised before a restart is its own (asked until answered)
                adopted = self.latch.adopt(await self.setter.read(self.latch.scope))
            except GateSetError as e:
                return self._skip(f"cannot read {self.latch.scope} for a NO_GO of a previous run: {e}")
            self._adoption_checked = True
            if adopted is not None:
                self._audit(
                    "CanaryAdopted", scope=adopted.scope, gate=adopted.gate.value, reason=adopted.reason
                )
        if self.latch.hold is not None:  # is the NO_GO still ours? (anyone else's change ends that)
            try:
                reading = await self.setter.read(self.latch.hold.scope)
            except GateSetError as e:
                return self._skip(f"cannot read {self.latch.hold.scope} to check the canary's NO_GO: {e}")
            notes += self._releases(self.latch.observe(reading))
        foreign = self._foreign(rt)
        if foreign:
            return self._skip("; ".join(foreign))
        hold = self.latch.hold
        read_only = hold is not None and hold.scope in rt.gates.gates  # our own NO_GO is on our path
        probe = "read-only" if read_only else "round-trip"
        t0 = time.monotonic()
        hops: dict[str, float] = {}
        try:
            try:
                await (self._path_check(hops) if read_only else self._round_trip(hops))
            except (CanaryFailure, CanarySkip):
                raise
            except Exception as e:  # a bug in our own path is a platform failure, not a crash
                raise CanaryFailure("canary", f"{type(e).__name__}: {e}", Cause.PLATFORM) from e
        except CanarySkip as s:
            return self._skip("; ".join([str(s), *self._foreign(rt)]))
        except CanaryFailure as f:
            if rt.stopping.is_set() or not rt.accepting:  # the agent is shutting down, not the path
                self.last = {"result": "aborted", "hop": f.hop, "reason": f.reason}
                self._audit("CanaryAborted", hop=f.hop, reason=f"agent stopping: {f.reason}")
                return self.last
            return await self._failed(f, probe, hops)
        self.runs["passed"] += 1
        total_ms = round((time.monotonic() - t0) * 1000, 1)
        decisions = self.latch.on_pass(reading)
        notes += self._releases(decisions)
        self.last = {"result": "passed", "probe": probe, "hops": hops, "ms": total_ms}
        why = "all hops verified" if not read_only else "read-only path check (no order under own NO_GO)"
        self._audit(
            "CanaryPassed", symbol=self.symbol, probe=probe, hops=hops, ms=total_ms, reason=why, noGo=notes
        )
        for d in decisions:
            if isinstance(d, Lift):
                await self._lift(d)
        return self.last

    async def _failed(self, f: CanaryFailure, probe: str, hops: dict[str, float]) -> dict[str, Any]:
        self.runs["failed"] += 1
        try:
            reading = await self.setter.read(self.scope)
        except GateSetError as e:
            gate = f"gate not set: {e}"
            self.last = {
                "result": "failed",
                "hop": f.hop,
                "reason": f.reason,
                "cause": f.cause.value,
                "gate": gate,
            }
            self._audit_failed(f, probe, hops, gate)
            return self.last
        decisions = self.latch.on_failure(f.cause, f"{f.hop}: {f.reason}", reading)
        notes = self._releases(decisions)
        raise_ = next((d for d in decisions if isinstance(d, Raise)), None)
        if raise_ is not None:
            until = (
                f"lifted by the canary after {raise_.required} passes in a row"
                if raise_.cause is Cause.TRANSIENT
                else "until a person lifts it"
            )
            notes.append(f"NO_GO: {raise_.scope} {raise_.prior.value} → {raise_.gate.value} ({until})")
        gate = "; ".join(notes)
        self.last = {
            "result": "failed",
            "hop": f.hop,
            "reason": f.reason,
            "cause": f.cause.value,
            "gate": gate,
        }
        self._audit_failed(f, probe, hops, gate)
        if raise_ is not None:
            change = await self._set(raise_.scope, raise_.gate, raise_.reason, reading, warning=True)
            if change is not None:
                self.latch.raised(raise_, change.old)
        return self.last

    def _audit_failed(self, f: CanaryFailure, probe: str, hops: dict[str, float], gate: str) -> None:
        self._audit(
            "CanaryFailed",
            hop=f.hop,
            reason=f.reason,
            cause=f.cause.value,
            transient=f.cause is Cause.TRANSIENT,
            probe=probe,
            passedHops=list(hops),
            gate=gate,
        )

    async def _lift(self, lift: Lift) -> None:
        """Lift our NO_GO — re-read first: a change since the run began is not ours to undo."""
        try:
            fresh = await self.setter.read(lift.scope)
        except GateSetError as e:
            self._audit("CanaryGateNotSet", scope=lift.scope, gate=lift.gate.value, reason=str(e))
            return
        if self._releases(self.latch.observe(fresh)):
            return
        self._audit(
            "CanaryRecovered",
            scope=lift.scope,
            old=lift.from_gate.value,
            new=lift.gate.value,
            passes=lift.passes,
            heldSeconds=round(lift.held_seconds, 3),
            cause=Cause.TRANSIENT.value,
            reason=lift.reason,
        )
        if await self._set(lift.scope, lift.gate, lift.reason, fresh, warning=False) is not None:
            self.latch.lifted()

    # -- the probes ---------------------------------------------------------------------------------
    async def _hop(self, name: str, hops: dict[str, float], coro: Any) -> Any:
        t = time.monotonic()
        try:
            out = await asyncio.wait_for(coro, self.hop_timeout_s)
        except TimeoutError:
            raise CanaryFailure(name, f"no answer within {self.hop_timeout_s}s", Cause.TRANSIENT) from None
        except TradingError as e:
            raise _failure(name, e) from None
        hops[name] = round((time.monotonic() - t) * 1000, 1)
        return out

    async def _book(self, hop: str, hops: dict[str, float]) -> OrderBook:
        assert self.client is not None
        if not self.markets:
            self.markets = await self._hop("venue", {}, self.client.load_markets())
            self.symbol = self.symbol or sorted(self.markets)[0]
        if self.symbol not in self.markets:
            raise CanaryFailure("venue", f"symbol {self.symbol} is not listed on {self.venue}")
        book: OrderBook = await self._hop(hop, hops, self.client.fetch_order_book(self.symbol, 5))
        if not book.bids or not book.asks:
            raise CanaryFailure(hop, f"empty order book for {self.symbol}", Cause.TRANSIENT)
        return book

    async def _path_check(self, hops: dict[str, float]) -> None:
        """Under the canary's own NO_GO: every read of the round trip, no order (see the docstring)."""
        assert self.client is not None
        await self._book("book", hops)
        await self._hop("balance", hops, self.client.fetch_balance())
        await self._hop("open-orders", hops, self.client.fetch_open_orders(self.symbol))
        unused = f"{CANARY_PREFIX}probe{int(time.time() * 1000)}-{self._seq}"
        t = time.monotonic()
        try:
            await asyncio.wait_for(
                self.client.fetch_order(self.symbol, client_order_id=unused), self.hop_timeout_s
            )
        except OrderNotFound:
            hops["order-lookup"] = round((time.monotonic() - t) * 1000, 1)  # the answer it must give
            return
        except TimeoutError:
            raise CanaryFailure(
                "order-lookup", f"no answer within {self.hop_timeout_s}s", Cause.TRANSIENT
            ) from None
        except TradingError as e:
            raise _failure("order-lookup", e) from None
        raise CanaryFailure("order-lookup", f"the venue reports an order for the unused client id {unused}")

    async def _round_trip(self, hops: dict[str, float]) -> None:
        assert self.client is not None and self.gateway is not None
        book = await self._book("venue", {})
        rules = self.markets[self.symbol]
        mid = (book.bids[0][0] + book.asks[0][0]) / 2
        self.gateway.on_price(self.symbol, mid)
        inst = InstrumentId(f"{self.symbol}@{self.venue}")
        ts_ms = book.timestamp_ms or int(time.time() * 1000)
        t = time.monotonic()
        sig = Signal(instrument_id=inst, ts_ms=ts_ms, confidence=1.0, value=1.0, reason="canary")
        if self.log is not None:
            self.log.append(sig.to_event(CANARY_STRATEGY))
        hops["signal"] = round((time.monotonic() - t) * 1000, 1)
        qty = max(rules.min_qty, (rules.min_notional * self.notional_margin / mid)).quantize(
            rules.step_size, rounding=ROUND_UP
        )
        before = self.gateway.book.position(CANARY_STRATEGY, self.symbol)
        buy = self._marketable(Side.BUY, book.asks[0][0], rules)
        fills = await self._leg(Side.BUY, qty, buy, sig, hops, "")
        after = self.gateway.book.position(CANARY_STRATEGY, self.symbol)
        # a venue that takes a buy's fee in the asset bought (Binance) credits that much less
        kept = sum((f.fee for f in fills if f.fee_currency == rules.base), Decimal(0))
        if after - before != qty - kept:
            why = f"position moved {after - before}, expected {qty - kept}"
            raise CanaryFailure("accounting", f"{why} ({qty} bought, the venue's fee {kept} {rules.base})")
        # a run a gate stopped between the legs left a position: this sell takes it back too; it
        # sells what the account holds, not what it bought (else every round trip drains the fee)
        carry = max(before, Decimal(0))
        book = await self._book("unwind", {})
        price = self._marketable(Side.SELL, book.bids[0][0], rules)
        await self._leg(Side.SELL, after - before + carry, price, sig, hops, "unwind")
        if self.gateway.book.position(CANARY_STRATEGY, self.symbol) != before - carry:
            raise CanaryFailure("unwind", "the canary did not end flat")

    def _marketable(self, side: Side, touch: Decimal, rules: MarketRules) -> Decimal:
        """A limit through the touch by ``slippageBps``: it still fills if the book moved meanwhile
        (a fast replay moves it a lot), but never at any price (no market orders)."""
        k = self.slippage / Decimal(10000)
        if side is Side.BUY:
            return (touch * (1 + k)).quantize(rules.tick_size, rounding=ROUND_UP)
        return (touch * (1 - k)).quantize(rules.tick_size, rounding=ROUND_DOWN)

    async def _leg(
        self, side: Side, qty: Decimal, price: Decimal, sig: Signal, hops: dict[str, float], tag: str
    ) -> list[Fill]:
        """One marketable limit order: risk → venue → fill → accounting, each hop verified."""
        assert self.client is not None and self.gateway is not None
        self._seq += 1
        intent = Intent(
            instrument_id=sig.instrument_id,
            ts_ms=sig.ts_ms,
            confidence=1.0,
            reason="canary",
            side=side,
            quantity=qty,
            price=price,
            reduce_only=side is Side.SELL,
        )
        req = intent.to_order_request(CANARY_STRATEGY, f"{int(time.time() * 1000)}-{self._seq}", price)
        req = dataclasses.replace(req, expected_edge_bps=self.edge_bps)
        t = time.monotonic()
        try:
            decision = await asyncio.wait_for(self.gateway.submit(req), self.hop_timeout_s)
        except TimeoutError:
            raise CanaryFailure(
                tag or "venue", f"no answer within {self.hop_timeout_s}s", Cause.TRANSIENT
            ) from None
        except TradingError as e:
            raise _failure(tag or "venue", e) from None
        gate_only = decision.denied and all(rule == "gate" for rule, _ in decision.reasons)
        if decision.action == "recorded" or (gate_only and decision.reasons):
            why = (
                "; ".join(m for _, m in decision.reasons) or f"gate {decision.gate.value}: recorded, not sent"
            )
            held = (
                f"; the canary holds {self.gateway.book.position(CANARY_STRATEGY, self.symbol)}"
                if tag
                else ""
            )
            raise CanarySkip(f"a gate stopped the {tag or 'entry'} leg: {why}{held}")
        if decision.action != "sent" or decision.venue_order is None or decision.client_order_id is None:
            why = "; ".join(f"[{r}] {m}" for r, m in decision.reasons) or decision.action
            raise CanaryFailure(tag or "risk", f"gateway did not send: {why}")
        hops[f"{tag}.risk+venue" if tag else "risk+venue"] = round((time.monotonic() - t) * 1000, 1)
        vo = decision.venue_order
        coid = CanaryPort.mark(decision.client_order_id)
        if vo.client_order_id != coid:
            raise CanaryFailure(tag or "venue", f"venue echoed client id {vo.client_order_id}, sent {coid}")
        if self.log is not None:
            order = to_model_order(req, self.venue).model_copy(update={"client_order_id": coid})
            self.log.append(OrderSubmitted(order=order))
        try:
            fills: list[Fill] = await self._hop(
                f"{tag}.fill" if tag else "fill", hops, self._await_fills(vo, qty)
            )
        except CanaryFailure:
            with contextlib.suppress(TradingError):  # leave nothing working on the venue
                await self.gateway.cancel(CANARY_STRATEGY, vo.symbol, decision.client_order_id)
            self.gateway.order_closed(decision.client_order_id)
            raise
        self.gateway.order_closed(decision.client_order_id)
        for f in fills:
            self.gateway.on_fill(CANARY_STRATEGY, f)
            if self.log is not None:
                self.log.append(OrderFilled(fill=f.to_model(coid, self.venue)))
        return fills

    async def _await_fills(self, vo: VenueOrder, qty: Decimal) -> list[Fill]:
        assert self.client is not None
        while True:
            fills = [
                f
                for f in await self.client.fetch_my_trades(vo.symbol)
                if f.venue_order_id == vo.venue_order_id
            ]
            if sum((f.quantity for f in fills), Decimal(0)) >= qty:
                return fills
            await asyncio.sleep(0.1)

    async def cancel_working_orders(self) -> int:
        return 0  # every canary order is marketable and awaited; none is left working

    async def flush(self) -> None:
        with contextlib.suppress(TimeoutError):  # let a run in flight finish (bounded by its hops)
            await asyncio.wait_for(self.lock.acquire(), 4 * self.hop_timeout_s)
        if self.log is not None:
            self.log.close()
            self.log = None
        if self.client is not None:
            await self.client.close()
        await self.setter.close()

    def describe(self) -> dict[str, Any]:
        hold = self.latch.hold
        no_go = None
        if hold is not None:
            no_go = {
                "scope": hold.scope,
                "gate": hold.gate.value,
                "prior": hold.prior.value,
                "cause": hold.cause.value,
                "passes": hold.passes,
                "required": hold.required if hold.lifts else None,
                "reason": hold.reason,
            }
        return {
            "venueUrl": self.venue_url,
            "symbol": self.symbol,
            "runs": dict(self.runs),
            "last": self.last,
            "gateScope": self.scope,
            "recoverAfterPasses": self.latch.recover_after,
            "noGo": no_go,
        }
