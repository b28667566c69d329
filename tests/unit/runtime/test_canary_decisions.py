"""The canary's decisions (runtime/canary_policy.py), pure, with an injected clock — and the same
decisions driven through :class:`CanaryWork` against an in-memory venue and gate table.

Covered: every error class classified (ours, and ccxt's through the adapter's translation);
hysteresis (transient failure → NO_GO; passes below ``recoverAfterPasses`` keep it; the N-th lifts
it back to the value it had; a failure restarts the count); a platform failure never lifts; a gate
someone else changed (human STOP, PAUSE or a new reason by another actor, a person lifting it) is
never lifted; a strategy kill switch or another scope's STOP is a skip, not a failure; and the
root cause of the strategy-STOP leak: the canary's own loss streak tripping ``strategy/canary``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from quantops_api import Gate
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.adapters.ccxt.errors import translate
from quantops_trading.execution import errors as qe
from quantops_trading.execution.types import (
    Fill,
    MarketRules,
    OrderBook,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    VenueOrder,
)
from quantops_trading.risk import RiskGateway
from quantops_trading.risk.killswitches import SwitchAction
from quantops_trading.runtime.agent import AgentRuntime
from quantops_trading.runtime.canary_policy import (
    RELAPSE_FACTOR_CAP,
    Cause,
    GateReading,
    Keep,
    Lift,
    NoGoLatch,
    Raise,
    Release,
    classify,
    foreign_restrictions,
    scope_key,
)
from quantops_trading.runtime.canary_role import (
    CANARY_STRATEGY,
    CanaryPort,
    CanaryWork,
    GateChange,
    GateConflict,
    last_gate_change,
    reading_from_object,
)
from quantops_trading.runtime.gatestate import GateState

WHO = "canary/canary"
G = "RiskPolicy/global"


@dataclass
class Clock:
    t: float = 1_000.0

    def __call__(self) -> float:
        return self.t


# -- classification ---------------------------------------------------------------------------------
TRANSIENT = [
    qe.ExchangeUnavailable,
    qe.RequestTimedOut,
    qe.VenueMaintenance,
    qe.RateLimited,
    qe.ClockSkew,
    qe.CircuitOpen,
]
PLATFORM = [
    qe.TradingError,
    qe.OrderRejected,
    qe.InvalidOrder,
    qe.InsufficientFunds,
    qe.DuplicateOrder,
    qe.OrderNotFound,
    qe.BadSymbol,
    qe.ConfigurationError,
    qe.NotReady,
]


def test_every_library_error_class_has_a_classification() -> None:
    classes = {getattr(qe, n) for n in qe.__all__}
    assert classes == set(TRANSIENT) | set(PLATFORM)  # a new error class must be decided here


@pytest.mark.parametrize("cls", TRANSIENT, ids=lambda c: c.__name__)
def test_venue_faults_are_transient(cls: type[qe.TradingError]) -> None:
    assert classify(cls("x", venue="sim")) is Cause.TRANSIENT


@pytest.mark.parametrize("cls", PLATFORM, ids=lambda c: c.__name__)
def test_our_own_path_is_a_platform_failure(cls: type[qe.TradingError]) -> None:
    assert classify(cls("x", venue="sim")) is Cause.PLATFORM


def test_hop_timeouts_are_transient_and_bugs_are_platform() -> None:
    assert classify(TimeoutError()) is Cause.TRANSIENT
    assert classify(KeyError("fill")) is Cause.PLATFORM
    assert classify(AssertionError()) is Cause.PLATFORM


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (ccxt.RateLimitExceeded("429"), Cause.TRANSIENT),
        (ccxt.DDoSProtection("418 banned"), Cause.TRANSIENT),
        (ccxt.ExchangeNotAvailable("502 Bad Gateway"), Cause.TRANSIENT),
        (ccxt.OnMaintenance("503 maintenance"), Cause.TRANSIENT),
        (ccxt.RequestTimeout("timed out"), Cause.TRANSIENT),
        (ccxt.NetworkError("connection reset"), Cause.TRANSIENT),
        (ccxt.InvalidNonce("recvWindow"), Cause.TRANSIENT),
        (ConnectionResetError("reset by peer"), Cause.TRANSIENT),
        (TimeoutError(), Cause.TRANSIENT),
        (ccxt.AuthenticationError("Signature for this request is not valid."), Cause.PLATFORM),
        (ccxt.InsufficientFunds("balance"), Cause.PLATFORM),
        (ccxt.InvalidOrder("Filter failure: LOT_SIZE"), Cause.PLATFORM),
        (ccxt.OrderNotFound("Unknown order sent."), Cause.PLATFORM),
        (ccxt.BadSymbol("Invalid symbol."), Cause.PLATFORM),
        (ccxt.ExchangeError("something else"), Cause.PLATFORM),
        (ccxt.NotSupported("fetchX"), Cause.PLATFORM),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_ccxt_errors_through_the_adapters_translation(exc: Exception, cause: Cause) -> None:
    assert classify(translate(exc, "sim")) is cause


@pytest.mark.parametrize(
    ("scope", "key"),
    [
        ("global", G),
        ("riskpolicy/momentum-limits", "RiskPolicy/momentum-limits"),
        ("RiskPolicy/global", G),
        ("agent/trader", "Agent/trader"),
        ("strategy/btc-momentum", "Strategy/btc-momentum"),
    ],
)
def test_gate_scopes_map_onto_control_plane_keys(scope: str, key: str) -> None:
    assert scope_key(scope) == key


@pytest.mark.parametrize("bad", ["pair/BTC-USDT", "agent/", "nonsense"])
def test_unknown_gate_scopes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="gateScope"):
        scope_key(bad)


# -- hysteresis --------------------------------------------------------------------------------------
def latch(clock: Clock, n: int = 3) -> NoGoLatch:
    return NoGoLatch(G, Gate.PAUSE, WHO, recover_after=n, clock=clock)


def raise_no_go(lt: NoGoLatch, cause: Cause = Cause.TRANSIENT, prior: Gate = Gate.GO) -> GateReading:
    """Fail once from ``prior``; confirm the raise; return the gate as the control plane now reads."""
    out = lt.on_failure(cause, "risk+venue: RateLimited: 429", GateReading(prior, "cli", "start"))
    (r,) = out
    assert isinstance(r, Raise) and (r.scope, r.gate, r.prior, r.cause) == (G, Gate.PAUSE, prior, cause)
    assert r.reason == f"canary NO_GO ({cause.value}, was {prior.value}): risk+venue: RateLimited: 429"
    lt.raised(r, prior)
    return GateReading(Gate.PAUSE, WHO, r.reason, "v2")


def test_transient_no_go_lifts_on_the_third_pass_in_a_row_back_to_the_prior_value() -> None:
    clock = Clock()
    lt = latch(clock)
    ours = raise_no_go(lt)
    clock.t += 10
    assert lt.on_pass(ours) == [Keep(f"{G} PAUSE held: 1/3 passes")]
    clock.t += 10
    assert lt.on_pass(ours) == [Keep(f"{G} PAUSE held: 2/3 passes")]
    clock.t += 10
    (lift,) = lt.on_pass(ours)
    assert isinstance(lift, Lift)
    assert (lift.scope, lift.gate, lift.from_gate, lift.passes, lift.held_seconds) == (
        G,
        Gate.GO,
        Gate.PAUSE,
        3,
        30.0,
    )
    assert lt.hold is not None  # not lifted until the control plane accepted the write
    lt.lifted()
    assert lt.hold is None and lt.on_pass() == []


def test_a_lift_the_control_plane_refused_comes_again_at_the_next_pass() -> None:
    lt = latch(Clock(), n=1)
    ours = raise_no_go(lt)
    assert isinstance(lt.on_pass(ours)[0], Lift)
    # the write failed: not confirmed, so the next pass decides the same
    assert isinstance(lt.on_pass(ours)[0], Lift)


def test_a_failure_restarts_the_pass_count() -> None:
    lt = latch(Clock())
    ours = raise_no_go(lt)
    lt.on_pass(ours)
    lt.on_pass(ours)
    (keep,) = lt.on_failure(Cause.TRANSIENT, "venue: 502", ours)
    assert keep == Keep(f"{G} PAUSE held; pass count restarts (0/3)")
    assert lt.on_pass(ours) == [Keep(f"{G} PAUSE held: 1/3 passes")]
    assert lt.on_pass(ours) == [Keep(f"{G} PAUSE held: 2/3 passes")]
    assert isinstance(lt.on_pass(ours)[0], Lift)


def test_a_skipped_run_neither_counts_nor_breaks_the_streak() -> None:
    lt = latch(Clock())
    ours = raise_no_go(lt)
    lt.on_pass(ours)
    assert lt.on_skip(ours) == []
    lt.on_pass(ours)
    assert isinstance(lt.on_pass(ours)[0], Lift)


def test_the_lift_restores_the_value_before_the_no_go() -> None:
    lt = latch(Clock(), n=1)
    ours = raise_no_go(lt, prior=Gate.CHECK)
    (lift,) = lt.on_pass(ours)
    assert isinstance(lift, Lift) and lift.gate is Gate.CHECK


def test_a_platform_failure_never_lifts() -> None:
    lt = latch(Clock())
    ours = raise_no_go(lt, cause=Cause.PLATFORM)
    for _ in range(20):
        (keep,) = lt.on_pass(ours)
        assert keep == Keep(f"{G} PAUSE held (platform failure): a person lifts it")
    assert lt.hold is not None and not lt.hold.lifts


def test_a_platform_failure_under_a_transient_no_go_makes_it_permanent() -> None:
    lt = latch(Clock())
    ours = raise_no_go(lt)
    lt.on_pass(ours)
    (keep,) = lt.on_failure(Cause.PLATFORM, "accounting: position moved 0", ours)
    assert "platform failure" in keep.note
    assert all(isinstance(d, Keep) for _ in range(10) for d in lt.on_pass(ours))
    # and a later transient failure does not make it liftable again
    lt.on_failure(Cause.TRANSIENT, "venue: 429", ours)
    assert all(isinstance(d, Keep) for _ in range(10) for d in lt.on_pass(ours))


@pytest.mark.parametrize(
    "now",
    [
        GateReading(Gate.STOP, "cli", "maintenance", "v3"),  # a human STOP
        GateReading(Gate.PAUSE, "alice", "looking into it", "v3"),  # PAUSE by another actor
        GateReading(Gate.PAUSE, "kubectl-patch", "", "v3"),  # kubectl patched spec.gate itself
        GateReading(Gate.PAUSE, WHO, "a person's reason", "v3"),  # same writer, someone else's reason
        GateReading(Gate.GO, "cli", "checked, fine", "v3"),  # a person lifted it already
    ],
    ids=["human-STOP", "PAUSE-by-another", "kubectl-patch", "new-reason", "lifted-by-a-person"],
)
def test_a_gate_someone_else_changed_is_never_lifted(now: GateReading) -> None:
    lt = latch(Clock(), n=1)
    raise_no_go(lt)
    (release,) = lt.on_pass(now)
    assert isinstance(release, Release) and release.scope == G
    assert "not the canary's to lift" in release.reason
    assert lt.hold is None
    for _ in range(5):
        assert lt.on_pass(now) == []  # nothing of ours left to lift


def test_after_a_release_a_new_failure_raises_again_but_never_lowers_a_gate() -> None:
    lt = latch(Clock())
    raise_no_go(lt)
    human_stop = GateReading(Gate.STOP, "cli", "maintenance", "v3")
    release, keep = lt.on_failure(Cause.TRANSIENT, "venue: 429", human_stop)
    assert isinstance(release, Release)
    assert keep == Keep(f"{G} already STOP by cli: nothing to raise")
    lifted = GateReading(Gate.GO, "cli", "done", "v4")
    (again,) = lt.on_failure(Cause.TRANSIENT, "venue: 429", lifted)
    assert isinstance(again, Raise) and again.prior is Gate.GO


def test_a_relapse_right_after_a_lift_doubles_the_passes_the_next_lift_needs() -> None:
    lt = latch(Clock(), n=2)
    ours = raise_no_go(lt)
    lt.on_pass(ours)
    assert isinstance(lt.on_pass(ours)[0], Lift)
    lt.lifted()
    (r,) = lt.on_failure(Cause.TRANSIENT, "venue: 429", GateReading(Gate.GO, WHO, "recovered", "v5"))
    assert isinstance(r, Raise) and r.required == 4
    hold = lt.raised(r)
    ours = GateReading(Gate.PAUSE, WHO, hold.reason, "v6")
    assert [type(lt.on_pass(ours)[0]) for _ in range(4)] == [Keep, Keep, Keep, Lift]
    lt.lifted()
    for _ in range(10):  # relapses keep doubling, up to the cap
        (r,) = lt.on_failure(Cause.TRANSIENT, "venue: 429", GateReading(Gate.GO, WHO, "x", "v"))
        assert isinstance(r, Raise)
        lt.raised(r)
        lt.lifted()
    assert lt.required == 2 * RELAPSE_FACTOR_CAP
    assert lt.on_pass() == []  # a full run passing after a lift: recovered, the count resets
    assert lt.required == 2


def test_recover_after_must_be_positive() -> None:
    with pytest.raises(ValueError, match="recoverAfterPasses"):
        NoGoLatch(G, Gate.PAUSE, WHO, recover_after=0)


# -- whose gate is in the way ------------------------------------------------------------------------
def test_foreign_restrictions_name_every_gate_that_is_not_the_canarys_own() -> None:
    assert foreign_restrictions({G: "GO", "Agent/canary": "GO"}) == []
    assert foreign_restrictions({G: "STOP", "Agent/canary": "GO"}) == [f"{G} is STOP"]
    assert foreign_restrictions(
        {G: "GO"},
        kill_switches={"execution-health": Gate.PAUSE},
        api_lost=True,
        gateway={"strategy/canary consecutive_losses": Gate.STOP, "pair/BTC/USDT pair_breach": Gate.GO},
    ) == [
        "kill switch execution-health is PAUSE",
        "control plane unreachable (fail-closed PAUSE)",
        "risk gateway strategy/canary consecutive_losses is STOP",
    ]


def test_the_canarys_own_no_go_is_not_in_its_way_but_a_changed_value_is() -> None:
    lt = latch(Clock())
    raise_no_go(lt)
    assert foreign_restrictions({G: "PAUSE", "Agent/canary": "GO"}, own=lt.hold) == []
    assert foreign_restrictions({G: "STOP"}, own=lt.hold) == [f"{G} is STOP"]
    assert foreign_restrictions({G: "PAUSE", "Agent/canary": "STOP"}, own=lt.hold) == ["Agent/canary is STOP"]


# -- Kubernetes and local readings -------------------------------------------------------------------
def _obj(gate: str, owners: list[str], ann: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {
            "resourceVersion": "42",
            "annotations": ann,
            "managedFields": [
                {"manager": m, "operation": "Update", "fieldsV1": {"f:spec": {"f:gate": {}}}} for m in owners
            ]
            + [{"manager": "quantops-operator", "fieldsV1": {"f:status": {}}}],
        },
        "spec": {"gate": gate},
    }


def test_a_kube_gate_reads_as_ours_only_while_our_field_manager_alone_owns_it() -> None:
    ann = {"quantops.dev/gate-changed-by": WHO, "quantops.dev/gate-reason": "canary NO_GO"}
    assert reading_from_object(_obj("PAUSE", [WHO], ann), WHO) == GateReading(
        Gate.PAUSE, WHO, "canary NO_GO", "42"
    )
    # kubectl patched spec.gate (annotations untouched): the writer is kubectl, not the canary
    assert reading_from_object(_obj("PAUSE", ["kubectl-patch"], ann), WHO).changed_by == "kubectl-patch"
    assert reading_from_object(_obj("PAUSE", [WHO, "kubectl"], ann), WHO).changed_by == "kubectl"
    assert reading_from_object({"metadata": {}, "spec": {}}, WHO) == GateReading(Gate.GO, "unknown", "", "")


def test_the_local_reading_comes_from_the_newest_gate_change_in_the_audit_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    recs = [{"event": "GateChanged", "scope": G, "new": "PAUSE", "who": WHO, "reason": "r1", "at": "t1"}]
    recs += [{"event": "CanaryPassed", "hops": {"x": i}} for i in range(3000)]  # several read blocks
    recs += [{"event": "GateChanged", "scope": "Agent/trader", "who": "cli", "reason": "r2", "at": "t2"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert last_gate_change(path, G, block=4096)["reason"] == "r1"
    assert last_gate_change(path, "Agent/trader", block=4096)["who"] == "cli"
    assert last_gate_change(path, "Agent/nobody") == {}
    assert last_gate_change(tmp_path / "missing.jsonl", G) == {}


# -- the same decisions through CanaryWork, against an in-memory venue and gate table ----------------
RULES = MarketRules(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.00001"),
    min_qty=Decimal("0.00001"),
    min_notional=Decimal("5"),
)


@dataclass
class FakeVenue:
    """Fills every order at once at the touch, with a fee: every round trip loses spread + fees."""

    venue: str = "sim"
    fills: list[Fill] = field(default_factory=list)
    orders: list[OrderIntent] = field(default_factory=list)
    fail_create: Exception | None = None
    fail_reads: Exception | None = None
    calls: list[str] = field(default_factory=list)
    on_create: Callable[[], None] | None = None

    def _read(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_reads is not None:
            raise self.fail_reads

    async def load_markets(self) -> dict[str, MarketRules]:
        self._read("load_markets")
        return {"BTC/USDT": RULES}

    async def fetch_order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        self._read("fetch_order_book")
        one = Decimal(1)
        return OrderBook(
            symbol=symbol,
            bids=((Decimal("59990"), one),),
            asks=((Decimal("60010"), one),),
            timestamp_ms=1_700_000_000_000,
        )

    async def fetch_balance(self) -> dict[str, Decimal]:
        self._read("fetch_balance")
        return {"USDT": Decimal(1000), "BTC": Decimal("0.01")}

    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]:
        self._read("fetch_open_orders")
        return []

    async def fetch_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        self._read("fetch_order")
        raise qe.OrderNotFound(f"sim: no order {client_order_id}", venue=self.venue)

    async def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[Fill]:
        self._read("fetch_my_trades")
        return list(self.fills)

    async def create_order(self, intent: OrderIntent, client_order_id: str) -> VenueOrder:
        self.calls.append("create_order")
        if self.on_create is not None:
            self.on_create()
        if self.fail_create is not None:
            raise self.fail_create
        self.orders.append(intent)
        oid = str(len(self.orders))
        price = Decimal("60010") if intent.side is Side.BUY else Decimal("59990")
        self.fills.append(
            Fill(
                venue=self.venue,
                symbol=intent.symbol,
                trade_id=oid,
                venue_order_id=oid,
                side=intent.side,
                price=price,
                quantity=intent.quantity,
                fee=(price * intent.quantity * Decimal("0.001")).quantize(Decimal("0.0001")),
                fee_currency="USDT",
                is_maker=False,
                timestamp_ms=1_700_000_000_000,
            )
        )
        return VenueOrder(
            venue=self.venue,
            symbol=intent.symbol,
            venue_order_id=oid,
            client_order_id=client_order_id,
            side=intent.side,
            type=OrderType.LIMIT,
            price=intent.price,
            quantity=intent.quantity,
            filled=intent.quantity,
            average=price,
            status=OrderStatus.CLOSED,
            timestamp_ms=1_700_000_000_000,
        )

    async def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        raise qe.OrderNotFound("filled already", venue=self.venue)

    async def close(self) -> None:
        return None


@dataclass
class FakeGates:
    """The control plane's gate table with who changed each gate last and why."""

    who: str = WHO
    table: dict[str, GateReading] = field(default_factory=dict)
    writes: list[tuple[str, Gate, str]] = field(default_factory=list)
    n: int = 0

    def put(self, scope: str, gate: Gate, who: str, reason: str) -> None:
        self.n += 1
        self.table[scope] = GateReading(gate, who, reason, str(self.n))

    async def read(self, scope: str) -> GateReading:
        return self.table[scope]

    async def set(
        self, scope: str, gate: Gate, reason: str, *, base: GateReading, event: str, warning: bool
    ) -> GateChange:
        if self.table[scope].version != base.version:
            raise GateConflict("changed")
        old = self.table[scope].gate
        self.put(scope, gate, self.who, reason)
        self.writes.append((scope, gate, event))
        return GateChange(scope, old, gate, self.who, reason, audited=False)

    async def close(self) -> None:
        return None


class Rig:
    def __init__(self, tmp: Path, config: dict[str, Any] | None = None, policy: dict[str, Any] | None = None):
        self.clock = Clock()
        self.venue, self.control = FakeVenue(), FakeGates()
        self.control.put(G, Gate.GO, "manifest", "")
        self.control.put("Agent/canary", Gate.GO, "manifest", "")
        self.work = CanaryWork(
            {"recoverAfterPasses": 3, **(config or {})},
            {"riskPolicies": {"global": policy or {}}},
            state_dir=tmp,
            control_url="",
            clock=self.clock,
        )
        self.state = tmp
        self.rt = AgentRuntime(name="canary", role="canary", control=None)  # type: ignore[arg-type]
        self.rt.gates = GateState(grace_seconds=60, clock=self.clock)
        self.sync()
        self.work.attach(self.venue, self.rt.gates, self.control)

    def sync(self) -> None:
        """The agent's gate watch delivers the control plane's gates."""
        self.rt.gates.update({k: r.gate.value for k, r in self.control.table.items()})

    async def run(self) -> dict[str, Any]:
        out = await self.work.run_once(self.rt)
        self.sync()
        self.clock.t += 1
        return out

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in (self.state / "audit.jsonl").read_text().splitlines()]


def test_the_leak_a_losing_round_trip_streak_stopped_the_canarys_own_strategy_scope() -> None:
    """Root cause, on the gateway the canary used to build: maxConsecutiveLosses losing closes of
    ``canary`` trip STOP on ``strategy/canary`` and the next canary order is denied "gate STOP"."""
    policy = RiskPolicySpec.model_validate({"maxConsecutiveLosses": 2})
    gw = RiskGateway(CanaryPort(FakeVenue()), policy)  # default ConsecutiveLosses, as before the fix
    for side in (Side.BUY, Side.SELL, Side.BUY, Side.SELL):
        price = Decimal("60010") if side is Side.BUY else Decimal("59990")
        fill = Fill(
            venue="sim",
            symbol="BTC/USDT",
            trade_id="t",
            venue_order_id="o",
            side=side,
            price=price,
            quantity=Decimal("0.0001"),
            fee=Decimal("0.006"),
            fee_currency="USDT",
            is_maker=False,
            timestamp_ms=0,
        )
        gw.on_fill(CANARY_STRATEGY, fill)
    assert gw.switches(f"strategy/{CANARY_STRATEGY}") == {"consecutive_losses": Gate.STOP}


async def test_the_canary_does_not_stop_itself_on_its_own_probe_costs(tmp_path: Path) -> None:
    rig = Rig(tmp_path, policy={"maxConsecutiveLosses": 1})
    for _ in range(4):
        assert (await rig.run())["result"] == "passed"
    assert len(rig.venue.orders) == 8 and rig.control.writes == []
    assert rig.work.gateway is not None and rig.work.gateway.switches("strategy/canary") == {}


async def test_a_strategy_kill_switch_on_the_canarys_path_is_a_skip_not_a_no_go(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    assert rig.work.gateway is not None
    rig.work.gateway.apply([SwitchAction("strategy/canary", "consecutive_losses", Gate.STOP, "5 losses")])
    out = await rig.run()
    assert out == {"result": "skipped", "reason": "risk gateway strategy/canary consecutive_losses is STOP"}
    assert rig.venue.orders == [] and rig.control.writes == []
    assert [r["event"] for r in rig.audit()] == ["CanarySkipped"]
    await rig.run()  # the same reason again is not audited again
    assert [r["event"] for r in rig.audit()] == ["CanarySkipped"]


async def test_a_human_stop_is_a_skip_and_the_canary_never_touches_it(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.control.put(G, Gate.STOP, "cli", "maintenance")
    rig.sync()
    for _ in range(3):
        assert (await rig.run())["reason"] == f"{G} is STOP"
    assert rig.control.writes == [] and rig.venue.calls == []
    rig.control.put(G, Gate.GO, "cli", "done")
    rig.sync()
    assert (await rig.run())["result"] == "passed"


async def test_a_gate_flipping_during_the_run_is_a_skip(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    def stop_now() -> None:  # the STOP arrives while the entry is on its way: the unwind is denied
        rig.control.put(G, Gate.STOP, "cli", "now")
        rig.sync()

    rig.venue.on_create = stop_now
    out = await rig.run()
    assert out["result"] == "skipped" and "unwind leg" in out["reason"] and f"{G} is STOP" in out["reason"]
    assert rig.control.writes == []
    gw = rig.work.gateway
    assert gw is not None and gw.book.position(CANARY_STRATEGY, "BTC/USDT") == Decimal("0.0001")
    rig.venue.on_create = None
    rig.control.put(G, Gate.GO, "cli", "all clear")
    rig.sync()
    assert (await rig.run())["result"] == "passed"  # the next run's unwind sells the stranded entry too
    assert gw.book.position(CANARY_STRATEGY, "BTC/USDT") == 0
    assert rig.venue.orders[-1].quantity == Decimal("0.0002")


async def test_a_burst_of_429s_pauses_then_the_canary_lifts_its_own_no_go(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    assert (await rig.run())["result"] == "passed"
    rig.venue.fail_create = qe.RateLimited("sim: RateLimitExceeded: 429", venue="sim")
    failed = await rig.run()
    assert failed["result"] == "failed" and failed["cause"] == "transient-venue-fault"
    assert rig.control.writes == [(G, Gate.PAUSE, "CanaryNoGo")]
    assert rig.rt.gates.gates[G] == "PAUSE"
    orders = len(rig.venue.orders)
    for i in (1, 2):  # under its own NO_GO: read-only probes, no order, still PAUSE
        out = await rig.run()
        assert (out["result"], out["probe"]) == ("passed", "read-only"), i
        assert rig.control.table[G].gate is Gate.PAUSE
    rig.venue.fail_create = None  # (invisible to a read-only probe: the lift is provisional)
    out = await rig.run()
    assert rig.control.writes[-1] == (G, Gate.GO, "CanaryRecovered")
    assert len(rig.venue.orders) == orders  # nothing was sent while the gate was PAUSE
    assert (await rig.run())["probe"] == "round-trip"
    events = [(r["event"], r.get("new"), r.get("cause")) for r in rig.audit()]
    assert events == [
        ("CanaryPassed", None, None),
        ("CanaryFailed", None, "transient-venue-fault"),
        ("GateChanged", "PAUSE", None),
        ("CanaryPassed", None, None),
        ("CanaryPassed", None, None),
        ("CanaryPassed", None, None),
        ("CanaryRecovered", "GO", "transient-venue-fault"),
        ("GateChanged", "GO", None),
        ("CanaryPassed", None, None),
    ]
    flip = rig.audit()[2]
    assert flip["who"] == WHO and flip["old"] == "GO" and flip["reason"].startswith("canary NO_GO (transient")
    assert rig.audit()[1]["transient"] is True


async def test_a_failure_under_the_no_go_restarts_the_count(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.venue.fail_create = qe.ExchangeUnavailable("502", venue="sim")
    await rig.run()
    await rig.run()
    rig.venue.fail_reads = qe.RequestTimedOut("timed out", venue="sim")
    assert (await rig.run())["gate"].endswith("pass count restarts (0/3)")
    rig.venue.fail_reads = None
    for _ in range(2):
        await rig.run()
    assert rig.control.table[G].gate is Gate.PAUSE
    await rig.run()
    assert rig.control.table[G].gate is Gate.GO


async def test_bad_keys_are_a_platform_failure_that_a_person_must_lift(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.venue.fail_reads = qe.ConfigurationError("Signature for this request is not valid.", venue="sim")
    out = await rig.run()
    assert (out["result"], out["cause"]) == ("failed", "platform")
    assert "until a person lifts it" in out["gate"]
    rig.venue.fail_reads = None
    for _ in range(10):
        assert (await rig.run())["probe"] == "read-only"
    assert rig.control.table[G].gate is Gate.PAUSE and len(rig.control.writes) == 1


async def test_a_human_stop_over_the_canarys_pause_is_never_lifted(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.venue.fail_create = qe.RateLimited("429", venue="sim")
    await rig.run()
    rig.venue.fail_create = None
    await rig.run()
    rig.control.put(G, Gate.STOP, "cli", "incident 7")
    rig.sync()
    out = await rig.run()
    assert out == {"result": "skipped", "reason": f"{G} is STOP"}
    assert any(r["event"] == "CanaryReleased" for r in rig.audit())
    rig.control.put(G, Gate.PAUSE, "cli", "back to pause")  # and a person's PAUSE is not ours either
    rig.sync()
    for _ in range(5):
        assert (await rig.run())["result"] == "skipped"
    assert rig.control.table[G] == GateReading(Gate.PAUSE, "cli", "back to pause", str(rig.control.n))
    assert [w[2] for w in rig.control.writes] == ["CanaryNoGo"]


async def test_an_exception_in_our_own_code_is_a_platform_failure_not_a_crash(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.venue.fail_reads = KeyError("bids")
    out = await rig.run()
    assert (out["result"], out["cause"], out["hop"]) == ("failed", "platform", "canary")


async def test_a_no_go_scope_off_the_canarys_path_keeps_the_full_round_trip(tmp_path: Path) -> None:
    rig = Rig(tmp_path, {"gateScope": "agent/trader", "recoverAfterPasses": 1})
    rig.control.put("Agent/trader", Gate.GO, "manifest", "")
    rig.rt.gates.update({G: "GO", "Agent/canary": "GO"})  # the canary does not watch Agent/trader
    rig.work.gateway = None
    rig.work.attach(rig.venue, rig.rt.gates, rig.control)
    rig.venue.fail_create = qe.RateLimited("429", venue="sim")
    out = await rig.work.run_once(rig.rt)
    assert out["result"] == "failed" and rig.control.table["Agent/trader"].gate is Gate.PAUSE
    rig.venue.fail_create = None
    out = await rig.work.run_once(rig.rt)
    assert out["probe"] == "round-trip" and rig.control.table["Agent/trader"].gate is Gate.GO


def test_a_restarted_canary_adopts_its_own_no_go_and_lifts_it_back_to_the_gate_before() -> None:
    """The canary was killed while its transient NO_GO held: the new process finds its own write
    (writer and reason) on the gate, owns it again and lifts it after its passes — to CHECK, the
    gate before it, not to GO. Before, it stood down under its own PAUSE for good."""
    clock = Clock()
    first = latch(clock)
    held = raise_no_go(first, prior=Gate.CHECK)
    restarted = latch(clock)
    hold = restarted.adopt(held)
    assert hold is not None and (hold.gate, hold.prior, hold.cause) == (
        Gate.PAUSE,
        Gate.CHECK,
        Cause.TRANSIENT,
    )
    for _ in range(2):
        (keep,) = restarted.on_pass(held)
        assert isinstance(keep, Keep)
    (lift,) = restarted.on_pass(held)
    assert isinstance(lift, Lift) and lift.gate is Gate.CHECK


def test_a_restarted_canary_adopts_no_one_elses_gate_and_never_lifts_a_platform_no_go() -> None:
    clock = Clock()
    human = GateReading(Gate.PAUSE, "cli:alice", "maintenance", "v1")
    assert latch(clock).adopt(human) is None
    first = latch(clock)
    held = raise_no_go(first, cause=Cause.PLATFORM)
    restarted = latch(clock)
    assert restarted.adopt(held) is not None
    for _ in range(5):
        assert not any(isinstance(d, Lift) for d in restarted.on_pass(held))


async def test_a_transient_no_go_is_rechecked_every_recheck_seconds_a_platform_one_is_not(
    tmp_path: Path,
) -> None:
    """While its own transient NO_GO waits for passes in a row the canary runs every
    ``recheckSeconds`` (read-only probes), so a 429 storm holds the platform for seconds, not
    ``recoverAfterPasses`` × ``intervalSeconds``; a platform NO_GO keeps the normal interval."""
    rig = Rig(tmp_path, {"intervalSeconds": 60, "recheckSeconds": 5})
    assert rig.work._next_run_in() == 60
    rig.venue.fail_create = qe.RateLimited("429", venue="sim")
    await rig.run()
    assert rig.work._next_run_in() == 5
    rig.venue.fail_create = None
    for _ in range(3):
        await rig.run()
    assert rig.control.table[G].gate is Gate.GO and rig.work._next_run_in() == 60
    bad = Rig(tmp_path / "platform", {"intervalSeconds": 60, "recheckSeconds": 5})
    bad.venue.fail_reads = qe.ConfigurationError("Signature for this request is not valid.", venue="sim")
    await bad.run()
    assert bad.control.table[G].gate is Gate.PAUSE and bad.work._next_run_in() == 60
