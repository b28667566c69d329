"""What the soak's invariant checker reads: the run's records, and nothing the agents say live.

Why it exists: the checker must trust only what was written down — the hash-chained event logs
(``<state>/eventlogs/*.sqlite``, ``<state>/canary/*.sqlite``), the supervisor's ``audit.jsonl``,
the simulator's own account state snapshotted at the end (``soak/venue-state.json``), the faults
the soak injected (``soak/faults.jsonl``) and the configuration the supervisor handed each agent
(``<agent>.config.json``: the trader's API key, strategies and policies; the venue's markets).
:func:`load` turns a state directory into one :class:`Evidence`; the checks
(:mod:`quantops_local.invariants`) are pure functions of it, so tests build Evidence by hand.

Every record keeps a reference (``eventlogs/btc-momentum.sqlite#12``, ``audit.jsonl:34``) that a
failed invariant names as its evidence. Rows are read with plain SQL, not through ``EventLog``:
a log whose chain is broken is still read (the chain check reports it), never skipped.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from quantops_local import wrapup
from quantops_trading.execution.types import MarketRules
from quantops_trading.observability.records import timestamp

__all__ = [
    "Check",
    "Evidence",
    "Rec",
    "client_order_id_of",
    "live_order_times",
    "load",
    "read_log",
    "soak_dir",
    "submitted_orders",
    "symbol_of",
    "unwind_children",
]


def soak_dir(state_dir: Path) -> Path:
    return state_dir / "soak"


@dataclass(frozen=True)
class Rec:
    """One record: where it is (``ref``), when (wall seconds since the epoch), what, its payload."""

    ref: str
    ts: float
    kind: str
    data: dict[str, Any]


@dataclass
class Evidence:
    """Everything one soak run left behind, as the checks read it."""

    strategy_logs: dict[str, list[Rec]] = field(default_factory=dict)  # strategy → its log's rows
    risk_log: list[Rec] = field(default_factory=list)  # the trader's eventlogs/risk.sqlite
    canary_logs: list[Rec] = field(default_factory=list)
    audit: list[Rec] = field(default_factory=list)
    venue: dict[str, Any] = field(default_factory=dict)  # /_sim/state at the end
    venue_taken_at: float = 0.0  # wall time of that snapshot
    faults: list[dict[str, Any]] = field(default_factory=list)  # soak/faults.jsonl
    chains_ok: dict[str, int] = field(default_factory=dict)
    chains_bad: dict[str, str] = field(default_factory=dict)
    trader: str = "trader"
    trader_key: str = ""
    venue_name: str = ""
    markets: dict[str, MarketRules] = field(default_factory=dict)
    policy_of: dict[str, str | None] = field(default_factory=dict)  # strategy → its riskPolicyRef
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # RiskPolicy name → spec (wire)
    pairs_of: dict[str, list[str]] = field(default_factory=dict)  # strategy → its pairs
    initial_gates: dict[str, str] = field(default_factory=dict)  # supervisor scope → gate at start
    run: dict[str, Any] = field(default_factory=dict)  # soak/run.json (speed, t0, schedule bounds)

    def trader_records(self) -> list[Rec]:
        """Every row of the trader's logs (strategies + risk), in time order."""
        rows = [r for rs in self.strategy_logs.values() for r in rs] + self.risk_log
        return sorted(rows, key=lambda r: r.ts)


@dataclass
class Check:
    """One invariant's verdict: ``evidence`` names the records that break it."""

    name: str
    ok: bool
    summary: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def client_order_id_of(r: Rec) -> str:
    if r.kind == "order_submitted":
        return str(r.data.get("order", {}).get("client_order_id", ""))
    return str(r.data.get("client_order_id", ""))


def submitted_orders(ev: Evidence) -> list[tuple[str, Rec]]:
    """(strategy, record) of every ``order_submitted`` in the strategies' logs."""
    return [(s, r) for s, rs in ev.strategy_logs.items() for r in rs if r.kind == "order_submitted"]


def unwind_children(ev: Evidence) -> set[str]:
    """Client order ids the unwind ladder sent (``risk_unwind_step`` ``child_order``)."""
    return {
        str(r.data.get("client_order_id"))
        for r in ev.trader_records()
        if r.kind == "risk_unwind_step" and r.data.get("action") == "child_order"
    }


def symbol_of(instrument_id: str) -> str:
    return instrument_id.rpartition("@")[0] or instrument_id


def read_log(path: Path, ref: str) -> list[Rec]:
    """The rows of one event log, oldest first (plain SQL: a broken chain is still read)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT seq, ts_ns, kind, payload FROM events ORDER BY seq").fetchall()
    except sqlite3.DatabaseError:
        return []
    finally:
        conn.close()
    return [Rec(f"{ref}#{seq}", ts_ns / 1e9, kind, json.loads(payload)) for seq, ts_ns, kind, payload in rows]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a torn last line of a killed writer
    return out


def _configs(state_dir: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for p in sorted(state_dir.glob("*.config.json")):
        try:
            out[p.name.removesuffix(".config.json")] = json.loads(p.read_text())
        except ValueError:
            continue
    return out


def live_order_times(state_dir: Path) -> list[float]:
    """Wall times of the trader's ``order_submitted`` records so far (read while it runs)."""
    configs = _configs(state_dir)
    trader = next((c for c in configs.values() if c.get("role") == "trader"), {})
    out: list[float] = []
    for name in trader.get("strategySpecs", {}):
        path = state_dir / "eventlogs" / f"{name}.sqlite"
        if not path.exists():
            continue
        conn = sqlite3.connect(path, timeout=5)
        try:
            rows = conn.execute("SELECT ts_ns FROM events WHERE kind = 'order_submitted'").fetchall()
        except sqlite3.DatabaseError:
            rows = []
        finally:
            conn.close()
        out += [ts / 1e9 for (ts,) in rows]
    return sorted(out)


def load(state_dir: Path) -> Evidence:
    ev = Evidence()
    configs = _configs(state_dir)
    trader = next((n for n, c in configs.items() if c.get("role") == "trader"), "trader")
    venue_agent = next((n for n, c in configs.items() if c.get("role") == "venue-sim"), "")
    tcfg = configs.get(trader, {})
    # the trader's venue account: the apiKey entry of its exchange Secret (quantops_local.secrets)
    secret = str(tcfg.get("config", {}).get("exchangeSecret", ""))
    key_file = state_dir / "secrets" / secret / "apiKey"
    ev.trader, ev.trader_key = trader, key_file.read_text().strip() if secret and key_file.is_file() else ""
    specs: dict[str, Any] = tcfg.get("strategySpecs", {})
    ev.policy_of = {s: sp.get("riskPolicyRef") for s, sp in specs.items()}
    ev.pairs_of = {s: [str(p) for p in sp.get("pairs", [])] for s, sp in specs.items()}
    ev.initial_gates = {f"Strategy/{s}": str(sp.get("gate", "GO")) for s, sp in specs.items()}
    ev.policies = dict(tcfg.get("riskPolicies", {}))
    for name, pol in tcfg.get("riskPolicies", {}).items():
        ev.initial_gates[f"RiskPolicy/{name}"] = str(pol.get("gate", "GO"))
    venue_cfg = configs.get(venue_agent, {}).get("config", {}).get("venue", {})
    ev.venue_name = str(venue_cfg.get("name", venue_agent))
    for s in venue_cfg.get("symbols", []):
        ev.markets[s["symbol"]] = MarketRules(
            symbol=s["symbol"],
            base=s["base"],
            quote=s["quote"],
            tick_size=Decimal(str(s.get("tickSize", "0.01"))),
            step_size=Decimal(str(s.get("stepSize", "0.00001"))),
            min_qty=Decimal(str(s.get("minQty", "0.00001"))),
            min_notional=Decimal(str(s.get("minNotional", "5"))),
        )
    for p in sorted((state_dir / "eventlogs").glob("*.sqlite")):
        ref = str(p.relative_to(state_dir))
        if p.stem == "risk":
            ev.risk_log = read_log(p, ref)
        elif p.stem in specs:
            ev.strategy_logs[p.stem] = read_log(p, ref)
    for p in sorted((state_dir / "canary").glob("*.sqlite")):
        ev.canary_logs += read_log(p, str(p.relative_to(state_dir)))
    audit_lines = (
        (state_dir / "audit.jsonl").read_text().splitlines() if (state_dir / "audit.jsonl").exists() else []
    )
    for i, line in enumerate(audit_lines, start=1):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        ev.audit.append(Rec(f"audit.jsonl:{i}", timestamp(rec), str(rec.get("event", "")), rec))
    soak = soak_dir(state_dir)
    if (soak / "venue-state.json").exists():
        snap = json.loads((soak / "venue-state.json").read_text())
        ev.venue, ev.venue_taken_at = snap.get("state", {}), float(snap.get("takenAt", 0.0))
    ev.faults = _read_jsonl(soak / "faults.jsonl")
    if (soak / "run.json").exists():
        ev.run = json.loads((soak / "run.json").read_text())
    ev.chains_ok, ev.chains_bad = wrapup.verify_event_logs(state_dir)
    return ev
