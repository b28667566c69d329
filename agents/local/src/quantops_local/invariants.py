"""The soak's invariant checker: pure checks of one run's records (:class:`~.soakrecords.Evidence`).

Why it exists: "it ran for a day and nothing looked wrong" proves nothing; what the platform wrote
down must add up. Each check returns a :class:`Check` naming the records that break it
(``eventlogs/btc-momentum.sqlite#12``, ``audit.jsonl:34``, ``venue order 17``). The checks:

* ``unique_client_ids`` — no client order id in two ``order_submitted`` records, none twice on
  the venue in the trader's account;
* ``venue_orders_recorded`` — every venue order of the trader's account with our client-id shape
  has an ``order_submitted``, ``order_adopted`` or ``orphan_order_cancelled`` record;
* ``fills_booked_once`` — every venue fill of the trader's account is booked exactly once
  (``order_filled`` by trade id) unless recorded ``fill_quarantined``/``fill_unowned``, and
  nothing is booked that the venue never filled;
* ``positions_match_venue`` — per traded base asset: ``venue_baseline`` + booked fills net of
  fees (:class:`~quantops_trading.execution.holdings.Holdings`) = the venue's balance;
* ``hash_chains_verify`` — every event log (the wrap-up's own verification);
* ``gates_respected`` — no live order while its effective gate forbade it (see :func:`gates_respected`
  for the scopes and what the records cannot show);
* ``latched_switches_human_only`` — a drawdown/cash-floor switch is lifted only by a human, and
  set again after every trader restart; a person's STOP is lifted only by a person;
* ``faults_detected`` / ``faults_recovered`` — per injected fault, the first record showing the
  platform saw it (time to detect) and the first live order after it ended (time to recover).

It must not read files or talk to the platform (``soakrecords.load`` and ``soak.py`` do).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from quantops_api import Gate
from quantops_local.soaklimits import risk_limits_respected
from quantops_local.soakrecords import (
    Check,
    Evidence,
    Rec,
    client_order_id_of,
    submitted_orders,
    symbol_of,
    unwind_children,
)
from quantops_trading.execution.client_ids import is_ours
from quantops_trading.execution.holdings import Holdings
from quantops_trading.execution.types import Side

__all__ = ["ANOMALY_KINDS", "Check", "FaultResult", "Report", "check_all"]

LATCHED = ("drawdown", "cash_floor")
HUMAN_ACTORS = ("cli:", "human", "config/resetLatchedBefore")
GATE_GRACE_S = 2.0
"""An order recorded within this many wall seconds of a gate tightening may have been checked and
sent before the trader saw the flip (the supervisor's audit time is not the trader's): reported as
raced, not as a violation. Both ends of the window must forbid for a violation."""

ANOMALY_KINDS = frozenset(
    {
        "order_unresolved",
        "order_adopted",
        "order_rejected",
        "order_gone",
        "book_rejected",
        "book_stale",
        "fill_quarantined",
        "fill_unowned",
        "orphan_order_cancelled",
        "tick_failed",
        "venue_degraded",
    }
)
"""Trader log records that show something went wrong (a kill switch set is one too)."""
AUDIT_ANOMALIES = frozenset({"CanaryFailed", "IncidentOpened", "TraderHalted", "StarvationDetected"})


@dataclass
class FaultResult:
    id: str
    kind: str
    target: str
    start: float  # simulated seconds
    end: float
    detected: bool
    detect_s: float | None  # wall seconds from its start to the first record of it
    detected_by: str | None
    recovered: bool | None  # None: no automatic recovery expected (schedule says recover: false)
    recover_s: float | None  # wall seconds from its end to the first live order
    recovered_by: str | None
    why: str = ""
    unblocked_s: float | None = None  # wall seconds from its end until nothing on record held the
    # live strategies (trader running, gates GO, books accepted): "could trade" vs "did trade"
    exercised: bool = True  # False: a fault on the order path while the trader had no order in flight


@dataclass
class Report:
    ok: bool
    checks: list[Check]
    faults: list[FaultResult]
    figures: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "failed": [c.name for c in self.checks if not c.ok],
            "figures": self.figures,
            "checks": [asdict(c) for c in self.checks],
            "faults": [asdict(f) for f in self.faults],
        }


# -- helpers ---------------------------------------------------------------------------------------
def _venue_orders(ev: Evidence) -> list[dict[str, Any]]:
    return [o for o in ev.venue.get("orders", []) if o.get("account") == ev.trader_key]


def _fill_trade_id(r: Rec) -> str:
    return str((r.data.get("fill") or {}).get("trade_id", ""))


# -- the checks ------------------------------------------------------------------------------------
def unique_client_ids(ev: Evidence) -> Check:
    by_cid: dict[str, list[str]] = defaultdict(list)
    for _, r in submitted_orders(ev):
        by_cid[client_order_id_of(r)].append(r.ref)
    bad: list[dict[str, Any]] = [
        {"clientOrderId": c, "records": refs} for c, refs in sorted(by_cid.items()) if len(refs) > 1
    ]
    on_venue: dict[str, list[int]] = defaultdict(list)
    for o in _venue_orders(ev):
        on_venue[str(o["clientOrderId"])].append(int(o["orderId"]))
    bad += [{"clientOrderId": c, "venueOrders": ids} for c, ids in sorted(on_venue.items()) if len(ids) > 1]
    n = len(by_cid)
    return Check("unique_client_ids", not bad, f"{n} client ids submitted, {len(bad)} used twice", bad)


def venue_orders_recorded(ev: Evidence) -> Check:
    known = {client_order_id_of(r) for _, r in submitted_orders(ev)}
    known |= {
        client_order_id_of(r)
        for r in ev.trader_records()
        if r.kind in ("order_adopted", "orphan_order_cancelled") and client_order_id_of(r)
    }
    ours = [o for o in _venue_orders(ev) if is_ours(str(o["clientOrderId"]))]
    bad = [
        {
            "venueOrder": o["orderId"],
            "clientOrderId": o["clientOrderId"],
            "status": o["status"],
            "executedQty": o["executedQty"],
            "why": "no order_submitted/order_adopted record",
        }
        for o in ours
        if str(o["clientOrderId"]) not in known
    ]
    return Check(
        "venue_orders_recorded",
        not bad,
        f"{len(ours)} venue orders of ours, {len(bad)} without a record",
        bad,
    )


def _venue_fills(ev: Evidence) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    return {str(f["tradeId"]): (o, f) for o in _venue_orders(ev) for f in o.get("fills", [])}


def _exempt_fills(ev: Evidence) -> dict[str, Rec]:
    return {
        _fill_trade_id(r): r
        for r in ev.trader_records()
        if r.kind in ("fill_quarantined", "fill_unowned") and _fill_trade_id(r)
    }


def _booked(ev: Evidence) -> dict[str, list[Rec]]:
    out: dict[str, list[Rec]] = defaultdict(list)
    for rs in ev.strategy_logs.values():
        for r in rs:
            if r.kind == "order_filled":
                out[_fill_trade_id(r)].append(r)
    return out


def fills_booked_once(ev: Evidence) -> Check:
    venue, booked, exempt = _venue_fills(ev), _booked(ev), _exempt_fills(ev)
    bad: list[dict[str, Any]] = []
    notes: list[str] = []
    for tid, (o, _) in sorted(venue.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0):
        n = len(booked.get(tid, []))
        if n == 1 or (n == 0 and tid in exempt):
            continue
        why = "booked twice" if n > 1 else "never booked (no order_filled, fill_quarantined or fill_unowned)"
        bad.append(
            {
                "tradeId": tid,
                "venueOrder": o["orderId"],
                "clientOrderId": o["clientOrderId"],
                "why": why,
                "records": [r.ref for r in booked.get(tid, [])],
            }
        )
    for tid, recs in sorted(booked.items()):
        if tid in venue:
            continue
        if all(r.ts > ev.venue_taken_at > 0 for r in recs):
            notes.append(f"trade {tid} booked after the venue snapshot ({recs[0].ref})")
            continue
        bad.append(
            {
                "tradeId": tid,
                "why": "booked, but the venue has no such fill of this account",
                "records": [r.ref for r in recs],
            }
        )
    if ev.trader_key and not ev.venue:
        bad.append({"why": "no venue snapshot (soak/venue-state.json): nothing to compare with"})
    summary = f"{len(venue)} venue fills, {sum(map(len, booked.values()))} booked, {len(exempt)} exempt"
    return Check("fills_booked_once", not bad, summary, bad, notes)


def positions_match_venue(ev: Evidence) -> Check:
    baseline: dict[str, Decimal] = {}
    for r in ev.risk_log:
        if r.kind == "venue_baseline":
            baseline.update({a: Decimal(str(v)) for a, v in r.data.get("balances", {}).items()})
    symbols = sorted({symbol_of(str(p)) for s in ev.strategy_logs for p in _pairs(ev, s)} & set(ev.markets))
    holdings = Holdings(rules=ev.markets, symbols=tuple(symbols), baseline=baseline)
    explained: dict[str, Decimal] = defaultdict(Decimal)
    late: list[str] = []
    for tid, recs in _booked(ev).items():
        for r in recs:
            if ev.venue_taken_at and r.ts > ev.venue_taken_at and tid not in _venue_fills(ev):
                late.append(r.ref)
                continue
            holdings.note_fill(*_fill_args(r.data["fill"]))
    for r in _exempt_fills(ev).values():
        for asset, change in holdings.changes(*_fill_args(r.data["fill"])).items():
            explained[asset] += change
    balances = {a: Decimal(v) for a, v in ev.venue.get("balances", {}).get(ev.trader_key, {}).items()}
    bad: list[dict[str, Any]] = []
    notes = [f"booked after the venue snapshot, left out: {ref}" for ref in late]
    rows = []
    for asset, syms in sorted(holdings.assets.items()):
        if asset not in baseline:
            bad.append({"asset": asset, "why": "no venue_baseline record for it"})
            continue
        expected = baseline[asset] + holdings.booked.get(asset, Decimal(0))
        held = balances.get(asset, Decimal(0))
        lot = min(ev.markets[s].step_size for s in syms)
        delta = held - expected
        rows.append(f"{asset}: venue {held}, baseline+booked {expected} (delta {delta:+})")
        if abs(delta) * 2 < lot:
            continue
        if explained.get(asset) and abs(delta - explained[asset]) * 2 < lot:
            notes.append(f"{asset}: delta {delta:+} is exactly the quarantined/unowned fills' (recorded)")
            continue
        bad.append(
            {
                "asset": asset,
                "venue": str(held),
                "baseline": str(baseline[asset]),
                "booked": str(holdings.booked.get(asset, Decimal(0))),
                "delta": str(delta),
                "why": "venue balance != baseline + booked fills net of fees",
            }
        )
    if not balances:
        bad.append({"why": f"no venue balances for the trader's key {ev.trader_key!r}"})
    return Check("positions_match_venue", not bad, "; ".join(rows) or "no traded asset", bad, notes)


def _pairs(ev: Evidence, strategy: str) -> set[str]:
    return {
        symbol_of(str((r.data.get("order") or r.data.get("fill") or {}).get("instrument_id", "")))
        for r in ev.strategy_logs.get(strategy, [])
        if r.kind in ("order_submitted", "order_filled")
    }


def _fill_args(f: dict[str, Any]) -> tuple[str, Side, Decimal, Decimal, Decimal, str]:
    return (
        symbol_of(str(f["instrument_id"])),
        Side(str(f["side"]).lower()),
        Decimal(str(f["quantity"])),
        Decimal(str(f["price"])),
        Decimal(str(f.get("fee") or 0)),
        str(f.get("fee_currency") or ""),
    )


def hash_chains_verify(ev: Evidence) -> Check:
    bad = [{"log": k, "why": v} for k, v in sorted(ev.chains_bad.items())]
    rows = sum(ev.chains_ok.values())
    return Check("hash_chains_verify", not bad, f"{len(ev.chains_ok)} logs verified ({rows} rows)", bad)


# -- gates ---------------------------------------------------------------------------------------
class _Timeline:
    """Gate values per scope over time: ``at(scope, t)``."""

    def __init__(self) -> None:
        self._ts: dict[str, list[float]] = defaultdict(list)
        self._vals: dict[str, list[str | None]] = defaultdict(list)

    def add(self, scope: str, t: float, value: str | None) -> None:
        self._ts[scope].append(t)
        self._vals[scope].append(value)

    def at(self, scope: str, t: float, default: str | None = None) -> str | None:
        i = bisect.bisect_right(self._ts.get(scope, []), t)
        return self._vals[scope][i - 1] if i else default


def _supervisor_gate_changes(ev: Evidence) -> list[Rec]:
    """GateChanged records the supervisor wrote (they carry ``who``; the trader's copies ``actor``)."""
    return [r for r in ev.audit if r.kind == "GateChanged" and "who" in r.data]


def _switch_timeline(ev: Evidence) -> tuple[_Timeline, dict[str, list[str]]]:
    """Per gateway scope, the most restrictive switch over time (a trader start clears them all:
    a new process starts with none until it restores them, which it records)."""
    events: list[tuple[float, int, Rec | None]] = [
        (r.ts, 1, r) for r in ev.risk_log if r.kind == "risk_kill_switch"
    ]
    events += [
        (r.ts, 0, None) for r in ev.audit if r.kind == "AgentStarted" and r.data.get("agent") == ev.trader
    ]
    tl = _Timeline()
    state: dict[str, dict[str, str]] = defaultdict(dict)
    scopes: dict[str, list[str]] = defaultdict(list)
    for t, _, r in sorted(events, key=lambda e: (e[0], e[1])):
        touched = list(state) if r is None else [str(r.data["scope"])]
        if r is None:
            state.clear()
        else:
            sw, gate = str(r.data["switch"]), r.data.get("gate")
            if gate is None:
                state[touched[0]].pop(sw, None)
            else:
                state[touched[0]][sw] = str(gate)
        for scope in touched:
            vals = [Gate(g) for g in state.get(scope, {}).values()]
            tl.add(scope, t, Gate.most_restrictive(*vals).value if vals else None)
            scopes[scope].append(r.ref if r is not None else "restart")
    return tl, scopes


def _forbids(gate: Gate, reduce_only: bool, unwind: bool) -> bool:
    if gate is Gate.STOP:
        return not unwind
    if gate is Gate.PAUSE:
        return not (reduce_only or unwind)
    return gate is Gate.CHECK


class _GateView:
    """The effective gate of a strategy's order on a pair at any instant, from the records."""

    def __init__(self, ev: Evidence) -> None:
        self.ev = ev
        self.sup = _Timeline()
        self.first_old: dict[str, str] = {}
        for r in sorted(_supervisor_gate_changes(ev), key=lambda r: r.ts):
            self.sup.add(str(r.data["scope"]), r.ts, str(r.data["new"]))
            self.first_old.setdefault(str(r.data["scope"]), str(r.data["old"]))
        self.switches, _ = _switch_timeline(ev)

    def gate_at(self, strategy: str, pair: str, t: float) -> tuple[Gate, list[str]]:
        ev = self.ev
        policy = ev.policy_of.get(strategy)
        sup_scopes = [f"Agent/{ev.trader}", "RiskPolicy/global", f"Strategy/{strategy}"]
        sup_scopes += [f"RiskPolicy/{policy}"] if policy and policy != "global" else []
        gates: list[tuple[str, Gate]] = []
        for sc in sup_scopes:
            start = self.first_old.get(sc) or ev.initial_gates.get(sc) or "GO"
            gates.append((sc, Gate(self.sup.at(sc, t, start) or "GO")))
        for sc in ("global", f"strategy/{strategy}", f"pair/{pair}", f"venue/{ev.venue_name}"):
            g = self.switches.at(sc, t)
            if g is not None:
                gates.append((sc, Gate(g)))
        worst = Gate.most_restrictive(*(g for _, g in gates))
        return worst, [f"{sc}={g.value}" for sc, g in gates if g is worst and g is not Gate.GO]


def gates_respected(ev: Evidence, grace_s: float = GATE_GRACE_S) -> Check:
    """No live order sent while its effective gate forbade it.

    Scopes, as the trader's risk gateway composes them: the supervisor's ``Agent/<trader>``,
    ``RiskPolicy/global``, ``Strategy/<s>`` and ``RiskPolicy/<s's policy>`` (audit ``GateChanged``
    by ``who``; starting values from the specs handed to the trader), and the gateway's kill
    switches on ``global``, ``strategy/<s>``, ``pair/<p>`` and ``venue/<v>`` (``risk_kill_switch``
    records in risk.sqlite, cleared at each trader start). STOP allows only unwind-ladder children
    (``risk_unwind_step`` ``child_order``), PAUSE also reduce-only orders, CHECK nothing live.
    What the records cannot show, hence not checked: the trader's own fail-closed PAUSE when it
    loses the supervisor (logged to stdout only), ``regime/*`` switches (the order record does not
    name its regime), and whether a reduce-only order really reduced (the gateway re-checks it).
    """
    view = _GateView(ev)
    unwind = unwind_children(ev)
    gate_at = view.gate_at

    bad: list[dict[str, Any]] = []
    notes: list[str] = []
    live = 0
    for strategy, r in submitted_orders(ev):
        order = r.data.get("order", {})
        cid = client_order_id_of(r)
        pair = symbol_of(str(order.get("instrument_id", "")))
        reduce_only, is_unwind = bool(order.get("reduce_only")), cid in unwind
        live += 1
        g_now, why_now = gate_at(strategy, pair, r.ts)
        g_before, _ = gate_at(strategy, pair, r.ts - grace_s)
        now_bad = _forbids(g_now, reduce_only, is_unwind)
        if now_bad and _forbids(g_before, reduce_only, is_unwind):
            bad.append(
                {
                    "record": r.ref,
                    "clientOrderId": cid,
                    "strategy": strategy,
                    "pair": pair,
                    "gate": g_now.value,
                    "by": why_now,
                    "reduceOnly": reduce_only,
                    "unwind": is_unwind,
                }
            )
        elif now_bad:
            notes.append(
                f"{r.ref}: gate {g_now.value} ({', '.join(why_now)}) tightened within {grace_s:g}s "
                "before the record: raced, not counted"
            )
    summary = (
        f"{live} live orders checked against their effective gates, {len(bad)} sent under a forbidding gate"
    )
    return Check("gates_respected", not bad, summary, bad, notes)


def latched_switches_human_only(ev: Evidence) -> Check:
    bad: list[dict[str, Any]] = []
    risk = sorted(ev.risk_log, key=lambda r: r.ts)
    gate_changes = [r for r in risk if r.kind == "gate_changed"]
    starts = sorted(r.ts for r in ev.audit if r.kind == "AgentStarted" and r.data.get("agent") == ev.trader)
    held: dict[tuple[str, str], Rec] = {}  # latched and not lifted by a human: the trip
    for r in risk:
        if r.kind != "risk_kill_switch" or r.data.get("switch") not in LATCHED:
            continue
        key = (str(r.data["scope"]), str(r.data["switch"]))
        if r.data.get("gate") is not None:
            held.setdefault(key, r)
            continue
        actor = next(
            (
                str(g.data.get("actor", ""))
                for g in gate_changes
                if abs(g.ts - r.ts) < 1.0
                and g.data.get("scope") == key[0]
                and str(g.data.get("actor", "")).endswith(f"/{key[1]}")
            ),
            "",
        )
        human = actor.startswith(HUMAN_ACTORS) or "resetLatchedBefore" in str(r.data.get("reason", ""))
        if not human:
            bad.append(
                {
                    "record": r.ref,
                    "scope": key[0],
                    "switch": key[1],
                    "actor": actor or "(none recorded)",
                    "why": "latched switch lifted by a non-human actor",
                }
            )
        held.pop(key, None)
    for (scope, switch), trip in held.items():  # still latched: every later trader start sets it again
        for i, t0 in enumerate(starts):
            if t0 <= trip.ts:
                continue
            t1 = starts[i + 1] if i + 1 < len(starts) else float("inf")
            again = any(
                r.kind == "risk_kill_switch"
                and r.data.get("scope") == scope
                and r.data.get("switch") == switch
                and r.data.get("gate") is not None
                and t0 <= r.ts < t1
                for r in risk
            )
            if not again:
                bad.append(
                    {
                        "record": trip.ref,
                        "scope": scope,
                        "switch": switch,
                        "why": f"latched switch not set again after the trader restart at {t0:.3f}",
                    }
                )
    people: dict[str, Rec] = {}  # a person's STOP on a supervisor scope: only a person lifts it
    for r in sorted(_supervisor_gate_changes(ev), key=lambda r: r.ts):
        scope, who = str(r.data["scope"]), str(r.data.get("who", ""))
        if r.data.get("new") == "STOP" and who.startswith("cli:"):
            people[scope] = r
        elif scope in people and not who.startswith("cli:"):
            bad.append(
                {
                    "record": r.ref,
                    "scope": scope,
                    "who": who,
                    "stoppedBy": people[scope].ref,
                    "why": "a person's STOP lifted by a non-human principal",
                }
            )
            del people[scope]
        elif scope in people:
            del people[scope]
    trips = sum(1 for r in risk if r.kind == "risk_kill_switch" and r.data.get("switch") in LATCHED)
    return Check("latched_switches_human_only", not bad, f"{trips} latched-switch records", bad)


# -- faults ------------------------------------------------------------------------------------------
_REQUEST_SWITCHES = frozenset(
    {"connector_circuit", "latency_p99", "dns", "telemetry_starvation", "reconcile"}
)
_LOST_ANSWERS = frozenset({"order_unresolved", "order_adopted", "order_gone", "orphan_order_cancelled"})
_BOOK_WORDS: dict[str, tuple[str, ...]] = {
    "stale_book": ("stale",),
    "crossed_book": ("crossed",),
    "price_glitch": ("collar", "price"),
}


def _relevant(kind: str, r: Rec) -> bool:
    """Whether record ``r`` shows the platform noticed a venue fault of ``kind``."""
    if r.kind in AUDIT_ANOMALIES or r.kind in ("tick_failed", "venue_degraded"):  # a request fault:
        # a failing tick, calls the client retried or slow answers, or the canary failing
        return kind not in _BOOK_WORDS and kind != "wrong_fill"
    if kind in _BOOK_WORDS:
        words = _BOOK_WORDS[kind]
        reason = str(r.data.get("reason", "")).lower()
        if r.kind in ("book_rejected", "book_stale"):
            return any(w in reason for w in words)
        return (
            kind == "stale_book"
            and r.kind == "risk_kill_switch"
            and r.data.get("switch") == "telemetry_starvation"
        )
    if kind == "wrong_fill":
        return r.kind == "fill_quarantined"
    switch = r.kind == "risk_kill_switch" and r.data.get("gate") is not None
    if switch and r.data.get("switch") in _REQUEST_SWITCHES:
        return True
    if kind in ("drop_after_accept", "slow_ack", "timeout", "drop_connection"):
        return r.kind in _LOST_ANSWERS or r.kind == "order_rejected"
    return r.kind == "order_rejected"  # 429/418/5xx/maintenance/clock skew refusing an order


def _detectors(ev: Evidence, f: dict[str, Any]) -> list[Rec]:
    kind, target = str(f["kind"]), str(f.get("target", ""))
    if kind == "kill_agent":
        return [r for r in ev.audit if r.kind == "AgentRestartScheduled" and r.data.get("agent") == target]
    if kind == "human_gate":
        return [
            r
            for r in _supervisor_gate_changes(ev)
            if r.data.get("new") == f.get("gate", "STOP") and str(r.data.get("who", "")).startswith("cli:")
        ]
    recs = [r for r in ev.trader_records() if r.kind in ANOMALY_KINDS or r.kind == "risk_kill_switch"]
    recs += [r for r in ev.audit if r.kind in AUDIT_ANOMALIES]
    return [r for r in recs if _relevant(kind, r)]


def _hot(ev: Evidence, t: float) -> set[str]:
    """Strategies the trader ran live (stage HOT) at ``t``, from its ``trader_stage_applied`` records."""
    stage: dict[str, str] = {}
    for r in ev.risk_log:
        if r.kind == "trader_stage_applied" and r.ts <= t:
            stage[str(r.data.get("strategy_id"))] = str(r.data.get("new"))
    return {s for s, st in stage.items() if st == "HOT"}


def _unblocked_at(ev: Evidence, view: _GateView, t: float) -> float | None:
    """The first instant from ``t`` on at which the trader runs, every strategy that traded live in
    the run or was HOT at ``t`` has gate GO on its pairs and their books are accepted (None: never,
    on record)."""
    live = {(s, symbol_of(str(r.data["order"].get("instrument_id", "")))) for s, r in submitted_orders(ev)}
    live |= {(s, p) for s in _hot(ev, t) for p in ev.pairs_of.get(s, [])}
    if not live:
        return None
    proc = sorted(
        (r.ts, r.kind)
        for r in ev.audit
        if r.kind in ("AgentStarted", "AgentRestartScheduled") and r.data.get("agent") == ev.trader
    )
    books = sorted(
        (r.ts, str(r.data.get("symbol", "")), r.kind)
        for r in ev.trader_records()
        if r.kind in ("book_rejected", "book_recovered")
    )
    moments = {t} | {x for x, _ in proc if x > t} | {x for x, _, _ in books if x > t}
    moments |= {r.ts for r in ev.audit if r.kind == "GateChanged" and r.ts > t}
    moments |= {r.ts for r in ev.risk_log if r.kind == "risk_kill_switch" and r.ts > t}
    for x in sorted(moments):
        running = [k for y, k in proc if y <= x]
        if running and running[-1] != "AgentStarted":
            continue
        refused = {}
        for y, sym, k in books:
            if y <= x:
                refused[sym] = k == "book_rejected"
        if all(view.gate_at(s, p, x)[0] is Gate.GO and not refused.get(p) for s, p in live):
            return x
    return None


def _window(f: dict[str, Any], detect_s: float) -> tuple[float, float]:
    """When a record can show fault ``f``: from its start to ``detect_s`` after its end. A record in
    several faults' windows belongs to the one that started last (the freshest cause)."""
    t0 = float(f["startedAt"])
    return t0 - 0.5, float(f.get("endedAt") or t0) + detect_s


def _live_orders(ev: Evidence) -> list[Rec]:
    return sorted((r for _, r in submitted_orders(ev)), key=lambda r: r.ts)


ORDER_PATH: dict[str, frozenset[str]] = {
    "slow_ack": frozenset({"order_submitted", "order_cancelled"}),  # calls on /api/v3/order
    "drop_after_accept": frozenset({"order_submitted"}),  # a POST of an order
    "wrong_fill": frozenset({"order_filled", "fill_quarantined"}),  # a fill read back
}
"""Faults only an order in flight meets, and the records that show one was: without them the
platform never saw the fault, by construction."""


def _exercised(ev: Evidence, kind: str, t0: float, t1: float) -> bool:
    if kind not in ORDER_PATH:
        return True
    return any(t0 <= r.ts <= t1 and r.kind in ORDER_PATH[kind] for r in ev.trader_records())


def faults(ev: Evidence, detect_s: float, recover_s: float) -> tuple[Check, Check, list[FaultResult]]:
    results: list[FaultResult] = []
    orders = _live_orders(ev)
    view = _GateView(ev)
    windows = {str(f["id"]): _window(f, detect_s) for f in ev.faults}
    owner: dict[str, str] = {}  # record ref → the fault it is attributed to: the latest one started
    for f in sorted(ev.faults, key=lambda f: float(f["startedAt"])):
        lo, hi = windows[str(f["id"])]
        for r in _detectors(ev, f):
            if lo <= r.ts <= hi:
                owner[r.ref] = str(f["id"])
    for f in ev.faults:
        t0, t1 = float(f["startedAt"]), float(f.get("endedAt") or f["startedAt"])
        lo, hi = windows[str(f["id"])]
        seen = sorted(
            (r for r in _detectors(ev, f) if lo <= r.ts <= hi and owner.get(r.ref) == f["id"]),
            key=lambda r: r.ts,
        )
        first = seen[0] if seen else None
        res = FaultResult(
            id=str(f["id"]),
            kind=str(f["kind"]),
            target=str(f.get("target", "")),
            start=float(f["start"]),
            end=float(f["end"]),
            detected=first is not None,
            detect_s=round(max(0.0, first.ts - t0), 3) if first else None,
            detected_by=f"{first.ref} {first.kind}" if first else None,
            recovered=None,
            recover_s=None,
            recovered_by=None,
        )
        free = _unblocked_at(ev, view, t1)
        res.unblocked_s = round(free - t1, 3) if free is not None else None
        res.exercised = first is not None or _exercised(ev, res.kind, t0, t1)
        if not res.exercised:
            res.why = "not exercised: no order was in flight while it was on"
        if f.get("recover", True):
            after = t1
            if f["kind"] == "kill_agent":
                back = [
                    r
                    for r in ev.audit
                    if r.kind == "AgentStarted" and r.data.get("agent") == res.target and r.ts > t0
                ]
                after = back[0].ts if back else float("inf")
            nxt = next((r for r in orders if r.ts >= after), None)
            res.recovered = nxt is not None and nxt.ts - t1 <= recover_s
            if nxt is not None:
                res.recover_s, res.recovered_by = round(nxt.ts - t1, 3), f"{nxt.ref} order_submitted"
            if not res.recovered:
                res.why = (
                    _why_not_trading(ev, t1, recover_s) if after != float("inf") else "agent never restarted"
                )
        results.append(res)
    undetected = [asdict(r) for r in results if not r.detected and r.exercised]
    unrecovered = [asdict(r) for r in results if r.recovered is False]
    idle = [r for r in results if not r.exercised]
    n = len(results) - len(idle)
    detected = Check(
        "faults_detected",
        not undetected,
        f"{n - len(undetected)}/{n} faults seen in the records within {detect_s:g}s"
        + (f" ({len(idle)} on the order path met no order: not exercised)" if idle else ""),
        undetected,
        [f"{r.id}: {r.why}" for r in idle],
    )
    expect = sum(1 for r in results if r.recovered is not None)
    recovered = Check(
        "faults_recovered",
        not unrecovered,
        f"{expect - len(unrecovered)}/{expect} faults followed by a live order within {recover_s:g}s",
        unrecovered,
    )
    return detected, recovered, results


def _why_not_trading(ev: Evidence, t: float, within: float) -> str:
    """What held the platform after ``t``: supervisor gates not GO, kill switches set, a book refused."""
    end = t + within
    held: list[tuple[str, str, str, str]] = []
    for r in sorted(_supervisor_gate_changes(ev), key=lambda r: r.ts):
        if r.ts <= end:
            held = [h for h in held if h[0] != r.data["scope"]]
            if r.data["new"] != "GO":
                held.append((str(r.data["scope"]), str(r.data["new"]), str(r.data.get("who", "")), r.ref))
    why = [f"{s}={g} set by {w} ({ref})" for s, g, w, ref in held]
    switches, scopes = _switch_timeline(ev)
    for scope in sorted(scopes):
        g = switches.at(scope, end)
        if g in ("STOP", "PAUSE") or (g == "CHECK" and not scope.startswith("strategy/")):
            why.append(f"kill switch {scope}={g}")
    last_book: dict[str, Rec] = {}
    for r in ev.trader_records():
        if r.kind in ("book_rejected", "book_recovered") and r.ts <= end:
            last_book[str(r.data.get("symbol", ""))] = r
    for symbol, r in sorted(last_book.items()):
        if r.kind == "book_rejected":
            why.append(f"{symbol} books refused since {r.ref}: {r.data.get('reason', '')}")
    if why:
        return "; ".join(why)
    return "no live order within the bound, nothing held it on record (no signal, or warming up)"


# -- all of it -------------------------------------------------------------------------------------
def figures(ev: Evidence, results: list[FaultResult]) -> dict[str, Any]:
    booked = _booked(ev)
    scheduled_people = sum(1 for f in ev.faults if f["kind"] == "human_gate") * 2
    people = sum(1 for r in _supervisor_gate_changes(ev) if str(r.data.get("who", "")).startswith("cli:"))
    dets = sorted(r.detect_s for r in results if r.detect_s is not None)
    recs = sorted(r.recover_s for r in results if r.recover_s is not None and r.recovered)
    free = sorted(r.unblocked_s for r in results if r.unblocked_s is not None)
    return {
        "ordersSubmitted": len(submitted_orders(ev)),
        "fillsBooked": sum(map(len, booked.values())),
        "venueOrders": len(_venue_orders(ev)),
        "venueFills": len(_venue_fills(ev)),
        "canaryOrders": sum(1 for r in ev.canary_logs if r.kind == "order_submitted"),
        "faultsInjected": len(ev.faults),
        "faultsDetected": sum(1 for r in results if r.detected),
        "faultsRecovered": sum(1 for r in results if r.recovered),
        "detectSecondsMedian": dets[len(dets) // 2] if dets else None,
        "detectSecondsMax": dets[-1] if dets else None,
        "recoverSecondsMedian": recs[len(recs) // 2] if recs else None,
        "recoverSecondsMax": recs[-1] if recs else None,
        "unblockedSecondsMedian": free[len(free) // 2] if free else None,
        "unblockedSecondsMax": free[-1] if free else None,
        "agentRestarts": sum(1 for r in ev.audit if r.kind == "AgentRestartScheduled"),
        "manualInterventions": max(0, people - scheduled_people),
        "gateChanges": len(_supervisor_gate_changes(ev)),
    }


def check_all(ev: Evidence, *, detect_s: float = 30.0, recover_s: float = 60.0) -> Report:
    detected, recovered, results = faults(ev, detect_s, recover_s)
    checks = [
        unique_client_ids(ev),
        venue_orders_recorded(ev),
        fills_booked_once(ev),
        positions_match_venue(ev),
        hash_chains_verify(ev),
        gates_respected(ev),
        risk_limits_respected(ev),
        latched_switches_human_only(ev),
        detected,
        recovered,
    ]
    return Report(all(c.ok for c in checks), checks, results, figures(ev, results))
