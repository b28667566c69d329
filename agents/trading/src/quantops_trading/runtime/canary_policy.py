"""The canary's decisions, pure: what a failure means, whose gate is in the way, when NO_GO lifts.

Why it exists: the canary (``runtime/canary_role.py``) must raise NO_GO only for the path it tests
and must not keep a platform paused for a fault that has gone. Those are judgements over values —
an exception, a map of gates, the gate the control plane reports now — so they live here, apart
from the I/O, and are unit-tested with an injected clock (``tests/unit/runtime``).

* :func:`classify` — a failure is a **transient venue fault** (the venue or the network said "not
  now": 429/418, 5xx, maintenance, timeouts, dropped connections, clock skew, a breaker open) or a
  **platform failure** (our own path: bad keys/signatures, an order the venue rejects, a fill not
  booked, wrong accounting, a risk denial that should not happen, an exception in our code).
  Anything not known to be transient is a platform failure: fail closed.
* :func:`foreign_restrictions` — every gate or kill switch on the canary's path that is *not* its
  own NO_GO. A foreign restriction (a human STOP, a kill switch, the control plane unreachable)
  is a reason to stand down (``CanarySkipped``), never a canary failure.
* :func:`reading_from_object` — who last wrote a Kubernetes object's ``spec.gate`` (the
  annotation counts only while the canary's field manager alone owns the field).
* :class:`NoGoLatch` — the canary's own NO_GO. Raised on failure (never lowering a gate that is
  already at least as restrictive); lifted by the canary only when the cause was transient, after
  ``recover_after`` passes in a row (a failure restarts the count), and only while the gate still
  reads as the canary's own write (same value, same writer, same reason). Once anybody else has
  changed that gate the latch lets go of it for good: a person decides from then on. A platform
  failure never lifts.

What it must not do: talk to a venue or a control plane, read the wall clock (``clock`` is
injected), or decide anything about a gate it did not set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from quantops_api import Gate
from quantops_trading.execution.errors import CircuitOpen, ClockSkew, ExchangeUnavailable

__all__ = [
    "GATE_CHANGED_BY",
    "GATE_REASON",
    "RELAPSE_FACTOR_CAP",
    "TRANSIENT_ERRORS",
    "Cause",
    "Decision",
    "GateReading",
    "Hold",
    "Keep",
    "Lift",
    "NoGoLatch",
    "Raise",
    "Release",
    "classify",
    "foreign_restrictions",
    "reading_from_object",
    "scope_key",
]


class Cause(StrEnum):
    """Why a canary run failed; the value is what the audit records carry as ``cause``."""

    TRANSIENT = "transient-venue-fault"
    PLATFORM = "platform"


TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    ExchangeUnavailable,  # 5xx, dropped connection, DNS; RateLimited (429/418), RequestTimedOut, maintenance
    ClockSkew,  # timestamp outside recvWindow: the adapter resyncs, the next call may pass
    CircuitOpen,  # the connector's breaker is open because the venue kept failing
    TimeoutError,  # a hop that got no answer within hopTimeoutSeconds
)
"""Library errors (``execution.errors``; ccxt's are translated into them by the adapter) that mean
"the venue, not us". ``ConfigurationError`` (keys, signatures), ``OrderRejected`` and its children,
``OrderNotFound``, ``BadSymbol``, ``NotReady`` and the bare ``TradingError`` are ours to fix."""


def classify(exc: BaseException) -> Cause:
    """Transient venue fault or platform failure; unknown errors are platform failures."""
    return Cause.TRANSIENT if isinstance(exc, TRANSIENT_ERRORS) else Cause.PLATFORM


_KINDS = {"global": "RiskPolicy", "riskpolicy": "RiskPolicy", "agent": "Agent", "strategy": "Strategy"}


def scope_key(scope: str) -> str:
    """``global`` / ``riskpolicy/x`` / ``agent/x`` / ``strategy/x`` (any case) → ``Kind/name``,
    the key the control planes use for gates (``RiskPolicy/global``)."""
    head, _, name = scope.partition("/")
    kind = _KINDS.get(head.lower())
    if head.lower() == "global" and not name:
        return "RiskPolicy/global"
    if kind is None or not name:
        raise ValueError(f"gateScope: {scope!r} is not global, riskpolicy/NAME, agent/NAME or strategy/NAME")
    return f"{kind}/{name}"


@dataclass(frozen=True, slots=True)
class GateReading:
    """One gate as the control plane reports it now, with who made the last change and why.

    ``version`` is opaque: a resourceVersion on Kubernetes, the last change's timestamp locally; a
    setter uses it to refuse a write when the gate changed since it was read.
    """

    gate: Gate
    changed_by: str = ""
    reason: str = ""
    version: str = ""


GATE_CHANGED_BY = "quantops.dev/gate-changed-by"
GATE_REASON = "quantops.dev/gate-reason"
"""What ``quantops gate --kube`` writes and the operator's GateChanged Event reads as the reason."""


def _gate_owners(obj: dict[str, Any]) -> set[str]:
    """The field managers that own ``spec.gate`` (one after any Update that changed it)."""
    out: set[str] = set()
    for mf in obj.get("metadata", {}).get("managedFields") or []:
        if "f:gate" in ((mf.get("fieldsV1") or {}).get("f:spec") or {}):
            out.add(str(mf.get("manager", "")))
    return out


def reading_from_object(obj: dict[str, Any], field_manager: str) -> GateReading:
    """A gate object's reading. The writer is the ``gate-changed-by`` annotation only while
    ``field_manager`` alone owns ``spec.gate``; otherwise it is whoever else owns it (a kubectl
    patch, an apply), so a change by anyone else never reads as the canary's own."""
    meta = obj.get("metadata") or {}
    ann = meta.get("annotations") or {}
    owners = _gate_owners(obj)
    if owners == {field_manager}:
        by = str(ann.get(GATE_CHANGED_BY, ""))
    else:
        by = ", ".join(sorted(owners - {field_manager})) or "unknown"
    gate = Gate(str((obj.get("spec") or {}).get("gate", "GO")))
    return GateReading(gate, by, str(ann.get(GATE_REASON, "")), str(meta.get("resourceVersion", "")))


@dataclass(frozen=True, slots=True)
class Hold:
    """A NO_GO the canary raised and still owns; ``required`` passes in a row lift a transient one."""

    scope: str
    gate: Gate
    prior: Gate
    cause: Cause
    who: str
    reason: str
    since: float
    passes: int = 0
    required: int = 3

    def ours(self, reading: GateReading) -> bool:
        """The gate still reads as our own write: nobody has changed it since."""
        return (reading.gate, reading.changed_by, reading.reason) == (self.gate, self.who, self.reason)

    @property
    def lifts(self) -> bool:
        """Only a NO_GO raised on a transient venue fault is lifted by the canary."""
        return self.cause is Cause.TRANSIENT


@dataclass(frozen=True, slots=True)
class Raise:
    """Set ``scope`` to ``gate`` (from ``prior``), with ``reason``, as the canary's NO_GO."""

    scope: str
    gate: Gate
    prior: Gate
    cause: Cause
    reason: str
    required: int


@dataclass(frozen=True, slots=True)
class Lift:
    """Set ``scope`` back to ``gate`` (the value before the canary's NO_GO)."""

    scope: str
    gate: Gate
    from_gate: Gate
    passes: int
    held_seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class Keep:
    """Nothing to change on the control plane; ``note`` says why (for the audit record)."""

    note: str


@dataclass(frozen=True, slots=True)
class Release:
    """The gate is no longer the canary's own write: the canary forgets it and never lifts it."""

    scope: str
    reason: str


Decision = Raise | Lift | Keep | Release

NO_GO_PREFIX = "canary NO_GO ("
"""How every NO_GO reason starts: ``canary NO_GO (<cause>, was <gate>): <why>``."""
RELAPSE_FACTOR_CAP = 8
"""A relapse doubles the passes the next lift needs, up to this many times ``recoverAfterPasses``."""


class NoGoLatch:
    """The canary's own NO_GO on one scope: raise, hold, lift with hysteresis, or let go.

    The runtime reads the gate (:class:`GateReading`), asks the latch, performs what it answers
    and confirms a successful write with :meth:`raised` / :meth:`lifted`; a write that fails is not
    confirmed, so the same decision comes again at the next run.

    Relapse: the first completed run after a lift is on probation. If it fails, the passes that
    lifted the NO_GO did not prove enough (under its own NO_GO the canary can only check the path
    read-only, see ``canary_role``), so the next lift needs twice as many (at most
    ``RELAPSE_FACTOR_CAP`` × ``recover_after``): a venue that keeps failing the order endpoint makes
    the gate flap ever more slowly, not every few runs. A passing run clears probation and resets
    the count to ``recover_after``.
    """

    def __init__(
        self,
        scope: str,
        fail_gate: Gate,
        who: str,
        *,
        recover_after: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if recover_after < 1:
            raise ValueError(f"recoverAfterPasses: {recover_after} must be at least 1")
        self.scope, self.fail_gate, self.who = scope, fail_gate, who
        self.recover_after, self.clock = recover_after, clock
        self.required = recover_after
        self.probation = False
        self.hold: Hold | None = None

    def observe(self, reading: GateReading) -> list[Decision]:
        """Let go of a hold whose gate someone else has changed since the canary set it."""
        h = self.hold
        if h is None or h.ours(reading):
            return []
        self.hold = None
        by = reading.changed_by or "someone else"
        return [
            Release(
                h.scope,
                f"{h.scope} is {reading.gate.value} by {by} ({reading.reason or 'no reason given'}) "
                f"since the canary set {h.gate.value}: not the canary's to lift",
            )
        ]

    def on_failure(self, cause: Cause, why: str, reading: GateReading) -> list[Decision]:
        """A failed run: raise NO_GO, or keep the one in force (a failure restarts the pass count;
        a platform failure makes a transient hold permanent)."""
        out = self.observe(reading)
        h = self.hold
        if h is not None:
            escalated = h.cause is Cause.TRANSIENT and cause is Cause.PLATFORM
            h = self.hold = replace(h, passes=0, cause=Cause.PLATFORM if escalated else h.cause)
            if escalated:
                note = f"{h.scope} {h.gate.value} held; now a platform failure: stays until a person lifts it"
            elif h.lifts:
                note = f"{h.scope} {h.gate.value} held; pass count restarts (0/{h.required})"
            else:
                note = f"{h.scope} {h.gate.value} held until a person lifts it"
            return [*out, Keep(note)]
        if self.probation:  # the first run after a lift failed: the lift came too early
            self.probation = False
            self.required = min(self.required * 2, self.recover_after * RELAPSE_FACTOR_CAP)
        if reading.gate.severity >= self.fail_gate.severity:
            by = f" by {reading.changed_by}" if reading.changed_by else ""
            return [*out, Keep(f"{self.scope} already {reading.gate.value}{by}: nothing to raise")]
        reason = f"{NO_GO_PREFIX}{cause.value}, was {reading.gate.value}): {why}"
        return [*out, Raise(self.scope, self.fail_gate, reading.gate, cause, reason, self.required)]

    def adopt(self, reading: GateReading) -> Hold | None:
        """After a restart: the NO_GO this canary raised before (its own writer and reason on the
        gate) is its own again. Without this a restarted canary found its own PAUSE, stood down
        under it as a foreign gate and never lifted it (seen in the soak: a 429 storm, a kill -9 of
        the canary, the platform PAUSEd for the rest of the day). The reason carries the cause and
        the gate before it, so a transient one is lifted back to exactly that."""
        if self.hold is not None or reading.changed_by != self.who or reading.gate is not self.fail_gate:
            return None
        if not reading.reason.startswith(NO_GO_PREFIX):
            return None
        head = reading.reason[len(NO_GO_PREFIX) :].split(")", 1)[0]
        cause_text, _, was = head.partition(", was ")
        try:
            cause, prior = Cause(cause_text), Gate(was)
        except ValueError:  # written by an older canary: keep it, never lift it
            cause, prior = Cause.PLATFORM, self.fail_gate
        self.hold = Hold(
            self.scope,
            reading.gate,
            prior,
            cause,
            self.who,
            reading.reason,
            self.clock(),
            required=self.required,
        )
        return self.hold

    def raised(self, decision: Raise, prior: Gate | None = None) -> Hold:
        """The control plane accepted ``decision`` (``prior``: the old value it reported, if any);
        the canary now owns that gate."""
        self.hold = Hold(
            decision.scope,
            decision.gate,
            decision.prior if prior is None else prior,
            decision.cause,
            self.who,
            decision.reason,
            self.clock(),
            required=decision.required,
        )
        return self.hold

    def on_pass(self, reading: GateReading | None = None) -> list[Decision]:
        """A passed run: count it toward lifting a transient NO_GO (``reading``: the held gate now)."""
        h = self.hold
        if h is None:
            if self.probation:  # a full run passed after the lift: recovered for real
                self.probation, self.required = False, self.recover_after
            return []
        if reading is None:
            raise ValueError("on_pass: a hold needs the gate's current reading")
        out = self.observe(reading)
        if self.hold is None:
            return out
        h = self.hold = replace(h, passes=h.passes + 1)
        if not h.lifts:
            return [*out, Keep(f"{h.scope} {h.gate.value} held (platform failure): a person lifts it")]
        if h.passes < h.required:
            return [*out, Keep(f"{h.scope} {h.gate.value} held: {h.passes}/{h.required} passes")]
        why = (
            f"canary recovered: {h.passes} passes in a row after a transient venue fault; "
            f"{h.scope} back to {h.prior.value}"
        )
        return [*out, Lift(h.scope, h.prior, h.gate, h.passes, self.clock() - h.since, why)]

    def on_skip(self, reading: GateReading | None = None) -> list[Decision]:
        """A run the canary stood down from proves nothing either way: the pass count stays."""
        return self.observe(reading) if reading is not None else []

    def lifted(self) -> None:
        """The control plane accepted the lift; the canary owns no gate any more (probation)."""
        self.hold = None
        self.probation = True


def foreign_restrictions(
    gates: Mapping[str, str],
    *,
    kill_switches: Mapping[str, Gate] | None = None,
    api_lost: bool = False,
    gateway: Mapping[str, Gate] | None = None,
    own: Hold | None = None,
) -> list[str]:
    """Every non-GO gate on the canary's path that is not the canary's own NO_GO, described.

    ``gates`` are the agent's control-plane gates (``Kind/name`` → value), ``kill_switches`` the
    agent's automatic ones, ``gateway`` the canary's risk gateway's own scope gates and switches
    (e.g. ``strategy/canary consecutive_losses``). ``own`` is the hold the canary still owns: its
    scope is excluded while it reads as the canary's gate value.
    """
    out: list[str] = []
    for key, value in gates.items():
        g = Gate(value)
        if g is Gate.GO or (own is not None and key == own.scope and g is own.gate):
            continue
        out.append(f"{key} is {g.value}")
    for name, g in (kill_switches or {}).items():
        if g is not Gate.GO:
            out.append(f"kill switch {name} is {g.value}")
    if api_lost:
        out.append("control plane unreachable (fail-closed PAUSE)")
    for name, g in (gateway or {}).items():
        if g is not Gate.GO:
            out.append(f"risk gateway {name} is {g.value}")
    return out
