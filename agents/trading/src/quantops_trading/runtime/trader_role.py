"""TraderWork: a whole trading node in one process — feed → features → signals → risk → execution.

Why it exists: the trader agent ran IdleWork, so strategies in a manifest never traded. This role
wires the existing pieces in the only safe order. The venue is found at runtime
(:mod:`~quantops_trading.runtime.discovery`: the local supervisor's venue-sim agent, or on
Kubernetes the venue-sim's Service; ``spec.config.venueAgent`` picks one, default the first). On
Kubernetes the Strategy and RiskPolicy specs come with the gate watch, and a Lease writer lock
(:mod:`~quantops_trading.runtime.singleton`) is checked before every send. Every ``pollSeconds``
each traded symbol's order book is fetched over ccxt (``depth`` is served for book-only symbols);
its mid is a one-poll bar for the strategies, plus the book snapshot. Signals are sized here
(``value × notionalPerStrategy`` = target position); every order goes through the
:class:`~quantops_trading.runtime.order_desk.OrderDesk` (lost answers, tracking, fill validation,
cancels, reconciliation with the venue) and :class:`RiskGateway`, the one door to the venue, which
reads the agent's gates (``rt.gates``): STOP/PAUSE/CHECK/GO are enforced there and re-checked at
send; PAUSE/STOP also cancel working orders. Orders, denials,
fills, cancels, signals and PnL go to ``$QUANTOPS_STATE_DIR/eventlogs/<strategy>.sqlite``; PnL and
risk utilisation also to the audit stream the dashboard reads. A strategy whose symbols the venue
does not list is skipped (``strategy_skipped``). Exchange keys come only from the Secret named
by ``spec.config.exchangeSecret``, through
:func:`~quantops_trading.adapters.ccxt.credentials.load_credentials`: ``$QUANTOPS_EXCHANGE_API_KEY/
_SECRET`` (what the operator injects from it), else the files in
``$QUANTOPS_EXCHANGE_CREDENTIALS_DIR`` (where ``quantops up`` keeps it); without keys nothing trades.

Stages (docs/pipeline.md "Stages in the trader"): each strategy's stage comes with the gate snapshot
(``rt.gates.stage_of``: ``status.stage`` capped by ``spec.desiredStage``; unknown → WARM, fail
closed) and is applied before every tick as a ``stage`` switch on the ``strategy/<name>`` scope of
the gateway: COLD → STOP (not run at all, working orders cancelled), WARM → CHECK (the gateway
records ``WouldBeOrder`` paper decisions, nothing reaches the venue; live working orders
cancelled), HOT → no restriction. A WARM strategy's would-be orders are then paper-traded by the
:class:`PaperDesk` on the book just fetched (``spec.config.paper``: ``makerFeeBps``/``takerFeeBps``,
default 10): ``paper_fill`` events, its own paper positions (which size its next orders) and paper
``PnlSnapshot`` records (``paper: true``) — the evidence the pipeline's envelope check (35) reads.
Every applied change is a ``StageApplied`` audit event. Every live order's
``OrderSubmitted.lineage`` carries the strategy's code hash, params fingerprint and stage (30).

Risk in the live loop (roadmap 58, 61, 62): every venue call goes through
:class:`~quantops_trading.risk.livefeed.MonitoredClient`, whose breaker, DNS, telemetry-freshness and
p99 figures become ``venue/<venue>`` kill switches after every tick (``spec.config.health``); fills
feed the :class:`AdverseClusterDetector` (``spec.config.adverseCluster``) with the pair's regime
from ``signals.regime`` (``spec.config.regime``), and orders carry that regime. A scope moving to
PAUSE/STOP cancels the working orders it covers. A position under STOP (agent gate, global/strategy/
pair kill switch) whose policy has an ``unwindLadder`` is flattened by an :class:`UnwindLadder`
stepped every ``unwindStepSeconds``; a gate back to GO/PAUSE aborts it (child cancelled). Every
automatic decision is audited in the strategy logs, ``eventlogs/risk.sqlite`` and ``audit.jsonl``,
and on Kubernetes also published as an Event (and budget changes to the RiskPolicy status).

A restart rebuilds from the event logs what the decisions rest on: positions, the orders the
crashed run left (held until the venue answers), the allocator's evidence, the latched kill
switches (drawdown, cash floor), which only ``spec.config.resetLatchedBefore`` lifts, and the rest
of a loss cool-down. Then, before the first order, the books are reconciled with the venue's
balances (:mod:`~quantops_trading.runtime.venue_check`; again every ``reconcileSeconds``): a
confirmed drift PAUSEs the asset's pairs, so a trader that lost its state does not buy its position
again. Working orders nobody re-decided within the policy's ``staleOrderTtlSeconds`` are cancelled.

Budgets (52, 60): with ``spec.config.allocator`` every rebalance sets the capital the drawdown
switches measure against and caps the strategy's target notional at its allocation; a strategy
given nothing only reduces. Exception, so evidence can ever accrue: while a strategy has fewer
closed trades than ``minSamples`` (weight 0 for lack of evidence alone) it trades its configured
notional — ``describe()["budgets"]`` says which applies.

What it must not do: send an order any way but the gateway, or keep trading once stopping.
Known gaps: orders go straight to the ccxt client (not ExecutionService, which needs a backup
venue).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from quantops_api import Gate, Stage, StrategySpec
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_api.v1alpha1.roleconfig import TraderConfig, role_config
from quantops_trading.adapters.ccxt import CcxtExecutionClient, make_binance
from quantops_trading.adapters.ccxt.credentials import load_credentials
from quantops_trading.config.schema import VenueEndpoint
from quantops_trading.execution.breaker import BreakerConfig
from quantops_trading.execution.client_ids import client_order_id
from quantops_trading.execution.errors import (
    ConfigurationError,
    TradingError,
)
from quantops_trading.execution.holdings import Holdings
from quantops_trading.execution.pretrade import check_depth
from quantops_trading.execution.retry import RetryPolicy
from quantops_trading.execution.types import (
    Fill,
    MarketRules,
    OrderBook,
    Side,
)
from quantops_trading.model.events import GateChanged, OrderSubmitted
from quantops_trading.model.ids import ClientOrderId, InstrumentId
from quantops_trading.model.orders import Fill as ModelFill
from quantops_trading.model.orders import LiquiditySide, Order, OrderSide
from quantops_trading.observability.trace import span, stamp
from quantops_trading.ops.network import acheck_network
from quantops_trading.pipeline.fingerprint import code_fingerprint, spec_fingerprint
from quantops_trading.risk import RiskGateway, concentration_heatmap
from quantops_trading.risk.allocator import AllocatorConfig, BudgetAllocator, StrategyScore
from quantops_trading.risk.events import (
    BudgetChanged,
    ClusterThrottled,
    KillSwitchTripped,
    StageDemoted,
    UnwindStep,
)
from quantops_trading.risk.health import AdverseClusterDetector, HealthThresholds, health_actions
from quantops_trading.risk.killswitches import GLOBAL, LATCHED, SwitchAction, pair_scope, strategy_scope
from quantops_trading.risk.livefeed import MonitoredClient, RegimeTracker, VenueHealth
from quantops_trading.risk.unwind import UnwindLadder, stopped_positions
from quantops_trading.runtime.agent import AgentRuntime, IdleWork
from quantops_trading.runtime.bar_memory import BarMemory
from quantops_trading.runtime.book_guard import BookGuard
from quantops_trading.runtime.control import GateSnapshot, KubeControl
from quantops_trading.runtime.discovery import discover_venue
from quantops_trading.runtime.inflight import (
    LOG_KINDS,
    InFlight,
    left_open,
    symbol_of,
)
from quantops_trading.runtime.order_desk import OrderDesk, Working, emit
from quantops_trading.runtime.paper_desk import PaperDesk, PaperFilled
from quantops_trading.runtime.signal_chain import SignalChain
from quantops_trading.runtime.singleton import WriterLease
from quantops_trading.runtime.trader_metrics import StrategyStats, TraderCollector
from quantops_trading.runtime.venue_check import VenueCheck
from quantops_trading.signals.attribution import decision_of
from quantops_trading.signals.regime import RegimeConfig
from quantops_trading.signals.sizing import VolTargetConfig, vol_target_size
from quantops_trading.storage.eventlog import EventLog, EventLogError, LogEntry
from quantops_trading.strategy import Bar, BookSnapshot, Intent, Output, Signal
from quantops_trading.strategy.loader import LoadedStrategy, load_from_spec

EVIDENCE = 500
"""How many recent signals (confidences) and closed trades (hits) the budget allocator scores."""
COOLDOWN = "consecutive_losses"
"""The kill switch that holds a strategy for ``lossCooldownSeconds`` after its losing streak."""
CONSERVATIVE = RiskPolicySpec(max_gross_exposure=5000, max_pair_exposure=2000, cash_floor=1000)
STAGE_GATE: dict[Stage, Gate | None] = {Stage.COLD: Gate.STOP, Stage.WARM: Gate.CHECK, Stage.HOT: None}
"""The ``stage`` switch each stage puts on its strategy's gateway scope."""


class StageApplied(BaseModel):
    """The trader started running a strategy at another stage (audited like every automatic decision)."""

    kind: str = "trader_stage_applied"
    ts_ns: int
    strategy_id: str
    old: str | None
    new: str
    reason: str
    cancelled: int = 0


AUTOMATIC = (
    GateChanged,
    KillSwitchTripped,
    UnwindStep,
    BudgetChanged,
    StageDemoted,
    ClusterThrottled,
    StageApplied,
)
"""Automatic decisions: also to ``audit.jsonl``, ``eventlogs/risk.sqlite`` and Kubernetes Events."""


def expected_edge_bps(attribution: dict[str, float]) -> float:
    """The edge an order claims for the fee guard (66): the strategy's own ``edge_bps`` if it gives
    one, else the trend gap of a momentum signal (``|gap|`` in bps), else none (0)."""
    if "edge_bps" in attribution:
        return abs(float(attribution["edge_bps"]))
    return abs(float(attribution.get("gap", 0.0))) * 1e4


class TraderWork(IdleWork):
    def __init__(
        self,
        config: dict[str, Any],
        agent_config: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        agent_config = agent_config or {}
        self.environ = environ  # where the exchange keys are read (None: the process environment)
        self.clock = clock  # every decision's time (tests drive it; records keep wall time)
        cfg = role_config("trader", config)  # a misspelt or out-of-range key fails here, named
        assert isinstance(cfg, TraderConfig)
        self.cfg = cfg
        # `quantops up` writes the specs into the agent's config; on Kubernetes they come with the
        # first gate snapshot (the agent watches its Strategies and their RiskPolicies).
        self.specs_from_control = "strategySpecs" not in agent_config
        self._set_specs(agent_config.get("strategySpecs", {}), agent_config.get("riskPolicies", {}))
        self.venue_agents = list(agent_config.get("venues") or {})
        self.poll_s = cfg.poll_seconds
        self.passive = cfg.order_style == "passive"
        self.reprice_s = cfg.reprice_seconds
        self.edge_bps = cfg.expected_edge_bps
        self.snapshot_s = cfg.snapshot_seconds
        h = cfg.health
        self.thresholds = HealthThresholds(
            max_dns_failures=h.max_dns_failures,
            telemetry_max_age_s=h.telemetry_max_age_seconds,
            p99_limit_s=h.p99_limit_seconds,
        )
        self.breaker_cfg = BreakerConfig(
            failure_threshold=h.breaker_failures, cooldown_s=h.breaker_cooldown_seconds
        )
        self.retry = RetryPolicy(
            max_attempts=h.retry_attempts, base_delay=h.retry_base_seconds, max_delay=h.retry_max_seconds
        )
        self.latency_window, self.latency_min = h.latency_window, h.latency_min_samples
        c = cfg.adverse_cluster
        self.cluster = AdverseClusterDetector(
            window_s=c.window_seconds,
            throttle_at=c.throttle_at,
            pause_at=c.pause_at,
            throttle_interval_s=c.throttle_interval_seconds,
        )
        r = cfg.regime
        self.regimes = RegimeTracker(
            RegimeConfig(
                window=r.window,
                trend_efficiency=r.trend_efficiency,
                vol_lookback=r.vol_lookback,
                high_vol_quantile=r.high_vol_quantile,
            ),
            rv_window=r.rv_window,
        )
        self.unwind_s = cfg.unwind_step_seconds
        self.reset_latched_before = cfg.reset_latched_before
        self.unwind_bps = cfg.unwind_aggressive_bps
        self.ladders: dict[tuple[str, str], UnwindLadder] = {}
        self._ladder_at: dict[tuple[str, str], float] = {}
        self.health: VenueHealth | None = None
        self.risk_log: EventLog | None = None
        self.publish: list[Any] = []  # callables taking an automatic-decision event (Kubernetes)
        self.recorder: Any = None  # KubeEventRecorder on Kubernetes (imported only there)
        a = cfg.allocator
        self.allocator_s = a.rebalance_seconds if a is not None else 0.0
        self.allocator = (
            BudgetAllocator(
                AllocatorConfig(
                    min_confidence=a.min_confidence,
                    max_calibration_error=a.max_calibration_error,
                    min_samples=a.min_samples,
                    max_share=a.max_share,
                ),
                audit=self._audit_sink,
            )
            if a is not None
            else None
        )
        self._last_alloc = -float("inf")
        self._budget: dict[str, Decimal] = {}  # the last allocation per strategy (52)
        self._confidences: dict[str, list[float]] = {}
        self._closes: dict[str, list[bool]] = {}
        self._epoch = (0, 0)
        self._applied_specs: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
        self._followed: GateSnapshot | None = None  # the snapshot _follow_specs last compared
        self.writer: WriterLease | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self.state_dir = Path(os.environ.get("QUANTOPS_STATE_DIR", "."))
        w = cfg.warm_start
        self.bar_memory = (
            BarMemory(self.state_dir / "bars.json", w.keep_bars, w.max_gap_bars) if w.enabled else None
        )
        self.state, self.agent, self.venue_agent, self.venue_url, self.venue = "starting", "", "", "", ""
        self.skipped: dict[str, str] = {}
        self.loaded: dict[str, LoadedStrategy] = {}
        self.logs: dict[str, EventLog] = {}
        self.desk: OrderDesk | None = None  # the venue side of every live order, once connected
        self.max_fee_rate = cfg.max_fee_rate  # an absurd fee: a venue bug
        self.books = BookGuard(  # 72: which books may price anything
            collar_bps=cfg.price_collar_bps,
            collar_confirm_s=cfg.price_collar_confirm_seconds,
            max_age_s=cfg.max_book_age_seconds,
            clock=clock,
        )
        self.bad_books = self.books.bad  # symbol → why its book is refused now
        self.min_depth = cfg.min_depth_ratio
        self.inflight = InFlight(cfg.unresolved_grace_seconds)
        self.reconcile_s = cfg.reconcile_seconds
        self.venue_check: VenueCheck | None = None
        self.counts = {
            "submitted": 0, "denied": 0, "filled": 0, "cancelled": 0, "rejected": 0, "paper": 0,
            "paperFilled": 0, "unresolved": 0, "booksRejected": 0, "fillsQuarantined": 0,
            "orphansCancelled": 0, "staleCancelled": 0, "thinSkipped": 0, "lostArbitration": 0,
            "throttled": 0, "sizedOut": 0,
        }  # fmt: skip
        self.chain = SignalChain(cfg.signals, clock)  # 38, 45
        self.stats: collections.defaultdict[str, StrategyStats] = collections.defaultdict(StrategyStats)
        self.paper_fees = (cfg.paper.maker_fee_bps / 10_000, cfg.paper.taker_fee_bps / 10_000)
        self.paper: PaperDesk | None = None
        self.stages: dict[str, Stage] = {}  # the stage each loaded strategy currently runs at
        self.lineage: dict[str, dict[str, str | int]] = {}  # roadmap 30: what every live order carries
        self.markets: dict[str, MarketRules] = {}
        self.client: CcxtExecutionClient | MonitoredClient | None = None
        self.gateway: RiskGateway | None = None
        self.lock = asyncio.Lock()
        self._seq, self._last_snap, self._pending = 0, -float("inf"), 0
        self._collecting = False
        self.ticks = 0  # completed ticks (status; lets a test wait for "N ticks and nothing sent")
        self._failing: tuple[str | None, int] = (None, 0)  # the error kind ticks fail with, how often
        self._trouble_seen = (0, 0)  # the venue client's (retries, slow calls) at the last tick
        self._degraded: tuple[float | None, int, tuple[int, int]] = (None, 0, (0, 0))  # since, clean, totals

    def _set_specs(self, strategies: dict[str, Any], policies: dict[str, Any]) -> None:
        """Strategy and RiskPolicy specs (wire form) → the specs, policies and notionals in force."""
        self.specs = {n: StrategySpec.model_validate(d) for n, d in strategies.items()}
        pols = {n: RiskPolicySpec.model_validate(d) for n, d in policies.items()}
        self.global_policy = pols.get("global", CONSERVATIVE)
        self.own_policies = {
            n: pols[s.risk_policy_ref] for n, s in self.specs.items() if s.risk_policy_ref in pols
        }
        raw = self.cfg.notional_per_strategy  # quote currency; a number or {strategy: amount}
        self.notional = {n: raw.get(n, Decimal(0)) if isinstance(raw, dict) else raw for n in self.specs}

    @staticmethod
    def _specs_of(snap: GateSnapshot) -> tuple[dict[str, Any], dict[str, Any]]:
        """The strategies' specs and their policies' from a Kubernetes gate snapshot. A strategy's
        own policy is its ``riskPolicyRef``, else the first policy whose selector matches it; the
        gates of every policy that applies are enforced through the gate state either way."""
        specs = snap.specs or {}
        strategies = {k.removeprefix("Strategy/"): v for k, v in specs.items() if k.startswith("Strategy/")}
        policies = {k.removeprefix("RiskPolicy/"): v for k, v in specs.items() if k.startswith("RiskPolicy/")}
        for name, spec in strategies.items():
            if not spec.get("riskPolicyRef"):
                own = [k.removeprefix("RiskPolicy/") for k in (snap.strategy_scopes or {}).get(name, [])]
                own = [p for p in own if p in policies]
                if own:
                    strategies[name] = {**spec, "riskPolicyRef": own[0]}
        return strategies, policies

    async def _load_specs_from_control(self, rt: AgentRuntime) -> None:
        """On Kubernetes: wait for the first gate snapshot and trade the specs it carries."""
        while not rt.first_snapshot.is_set() and not rt.stopping.is_set():
            self.state = "waiting for the Strategy and RiskPolicy objects"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rt.first_snapshot.wait(), 1.0)
        if rt.snapshot is not None and rt.snapshot.specs is not None:
            strategies, policies = self._specs_of(rt.snapshot)
            self._set_specs(strategies, policies)
            self._applied_specs = (strategies, policies)

    def _follow_specs(self, rt: AgentRuntime) -> None:
        """A RiskPolicy edited on the cluster applies to the next check; a Strategy whose spec
        changed (params, pairs) restarts the agent, which then trades the new spec from its
        event log's positions (crash-only: one start path). Gates and stages never restart it."""
        snap = rt.snapshot
        if not self.specs_from_control or snap is None or snap.specs is None or snap is self._followed:
            return  # a tick without a new snapshot has nothing to compare
        self._followed = snap
        strategies, policies = self._specs_of(snap)
        old_strategies, old_policies = self._applied_specs
        strip = ("gate", "desiredStage")
        changed = sorted(
            n
            for n in set(strategies) | set(old_strategies)
            if {k: v for k, v in strategies.get(n, {}).items() if k not in strip}
            != {k: v for k, v in old_strategies.get(n, {}).items() if k not in strip}
        )
        if changed and not rt.stopping.is_set():
            emit("strategy_spec_changed", agent=rt.name, strategies=changed, action="restart")
            rt.request_stop(f"Strategy spec changed: {', '.join(changed)}")
            return
        if policies != old_policies and self.gateway is not None:
            self._set_specs(strategies, policies)
            self.gateway.update_policy(self.global_policy)
            for name, pol in self.own_policies.items():
                self.gateway.update_policy(pol, name)
            emit("risk_policies_updated", agent=rt.name, policies=sorted(policies))
        self._applied_specs = (strategies, policies)

    def _audit_sink(self, event: BaseModel) -> None:
        event = stamp(event)  # a decision inside a signal's or a fill's span carries its trace
        data = event.model_dump(mode="json")
        order = data.get("order") or {}
        sid = (
            data.get("strategy_id")
            or order.get("strategy_id")
            or data.get("scope", "").removeprefix("strategy/")
        )
        for name, log in self.logs.items():
            if sid in (name, None, "") or sid not in self.logs:
                log.append(event)
        if data.get("kind") == "order_denied" and sid in self.logs:
            self.counts["denied"] += 1
        if isinstance(event, AUTOMATIC):
            if self.risk_log is not None:
                self.risk_log.append(event)
            self._write_audit(type(event).__name__, **{k: v for k, v in data.items() if k != "kind"})
            for publish in self.publish:
                try:
                    publish(event)
                except Exception as e:  # a sink failing must never stop the risk engine
                    emit("publish_failed", event=type(event).__name__, error=f"{type(e).__name__}: {e}")

    def _write_audit(self, event: str, **fields: Any) -> None:
        with (self.state_dir / "audit.jsonl").open("a") as f:  # one O_APPEND write per record
            f.write(json.dumps({"at": time.time(), "event": event, "agent": self.agent, **fields}) + "\n")

    async def run(self, rt: AgentRuntime) -> None:
        """Start, then one :meth:`step` every ``pollSeconds`` until the agent stops."""
        if not await self.start(rt):
            await rt.stopping.wait()  # idle or halted: it says why, and waits to be stopped
            return
        while not rt.stopping.is_set():
            await self.step(rt)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rt.stopping.wait(), self.poll_s)

    async def start(self, rt: AgentRuntime) -> bool:
        """Everything before the first tick: the venue, its markets, the logs and what they
        restore, the gateway and the desk, the stages, the first reconciliation. False when the
        trader cannot trade (``state`` says why: idle without a venue or keys, or halted)."""
        self.agent = rt.name
        if not self._collecting:  # the SLO metrics on the agent's /metrics (dashboards, alerts)
            rt.registry.register(TraderCollector(self))
            self._collecting = True
        if self.specs_from_control:
            await self._load_specs_from_control(rt)
        want = self.cfg.venue_agent or (self.venue_agents or [None])[0]
        found = await discover_venue(
            rt.control,
            url=self.cfg.venue_url or "",
            name=self.cfg.venue_name or "",
            want=want,
            control_url=os.environ.get("QUANTOPS_CONTROL_URL", ""),
            stopping=rt.stopping,
        )
        if found is not None:
            self.venue_url, self.venue, self.venue_agent = found.url, found.name, found.agent
            refused = found.refuses_keys(self.cfg.venue_hosts)
            if refused:
                self.state = f"idle: {refused}"
                emit("trader_idle", agent=rt.name, reason=self.state)
                return False
        try:
            creds = load_credentials(environ=self.environ)
            missing = creds.missing()
        except ConfigurationError as e:  # an unreadable credentials dir
            creds, missing = None, [str(e)]
        if not self.venue_url or creds is None or missing:
            self.state = "idle: " + (
                "no venue found"
                if not self.venue_url
                else "no exchange credentials (the Secret named by spec.config.exchangeSecret, as "
                "$QUANTOPS_EXCHANGE_API_KEY/_SECRET or $QUANTOPS_EXCHANGE_CREDENTIALS_DIR): missing "
                f"{', '.join(missing)}"
            )
            emit("trader_idle", agent=rt.name, reason=self.state)
            return False
        self.client = CcxtExecutionClient(
            make_binance(self.venue_url, creds.api_key, creds.secret), self.venue
        )
        self.health = VenueHealth(
            self.venue,
            self.thresholds,
            self.breaker_cfg,
            latency_window=self.latency_window,
            latency_min_samples=self.latency_min,
            clock=self.clock,
            registry=rt.registry,
        )
        self.client = MonitoredClient(
            self.client, self.health, self.retry, slow_s=self.cfg.health.slow_call_seconds
        )
        if isinstance(rt.control, KubeControl):
            from quantops_trading.observability.kube_events import KubeEventRecorder

            self.recorder = KubeEventRecorder(
                rt.control.creds, agent=rt.name, instance=f"{rt.name}-{rt.control.replica}"
            )
            self.publish.append(self.recorder.publish_soon)
        no_go = ""
        while not self.markets and not rt.stopping.is_set():
            # 4: DNS, TCP and HTTP to the venue before any feed; a NO_GO names the step that failed
            net = await acheck_network([VenueEndpoint(name=self.venue, url=self.venue_url)])
            if not net.go:
                if net.reason != no_go:
                    self.state = f"waiting: network self-check NO_GO: {net.reason}"
                    emit("trader_network_no_go", **net.to_dict())
                    self._write_audit("NetworkNoGo", venue=self.venue, reason=net.reason)
                no_go = net.reason
                await asyncio.sleep(1.0)
                continue
            if no_go:
                self._write_audit("NetworkGo", venue=self.venue, reason=net.reason, after=no_go)
                no_go = ""
            try:
                self.markets = await self.client.load_markets()
            except TradingError as e:
                emit("trader_venue_unavailable", error=str(e))
                await asyncio.sleep(1.0)
        maker, taker = self.paper_fees
        self.paper = PaperDesk(self.venue, self.markets, taker_fee=taker, maker_fee=maker, clock=self.clock)
        try:
            self._open_logs(rt)
        except EventLogError as e:  # tampered, truncated, a lost WAL or head record: fail closed
            self._halt(rt, str(e))
            return False
        if self.bar_memory is not None and (problem := self.bar_memory.load()):
            emit("warm_start_skipped", reason=problem)  # the strategies warm up on live bars instead
        if isinstance(rt.control, KubeControl):  # one writer per trader Agent, whatever runs
            self.writer = WriterLease(rt.control, rt.name, rt.control.replica)
            self._writer_task = asyncio.create_task(self.writer.run(rt.stopping))
        self.gateway = RiskGateway(
            self.client,
            self.global_policy,
            audit=self._audit_sink,
            gate_state=rt.gates,
            cluster=self.cluster,
            send_guard=self.writer.blocked if self.writer is not None else None,
            clock=self.clock,
        )
        for name, pol in self.own_policies.items():
            self.gateway.update_policy(pol, name)
        traded = tuple(sorted({p for n in self.loaded for p in self.specs[n].pairs}))
        holdings = Holdings(self.markets, traded)
        assert self.risk_log is not None
        self.venue_check = VenueCheck(self.client, holdings, self.risk_log, self.reconcile_s, self.clock)
        assert isinstance(self.client, MonitoredClient)
        self.desk = OrderDesk(
            self.client,
            self.gateway,
            self.venue_check,
            markets=self.markets,
            logs=self.logs,
            risk_log=self.risk_log,
            counts=self.counts,
            inflight=self.inflight,
            max_fee_rate=self.max_fee_rate,
            log_submitted=self._log_submitted,
            on_booked=self._on_booked,
            regime_of=self.regimes.current.get,
        )
        self._restore_positions()
        self._restore_latched()
        rt.on_gate.append(self._on_gate)
        async with self.lock:
            await self._apply_stages(rt)  # before the first tick: nothing runs at a stage not yet applied
        self.state = "reconciling"
        await self._first_reconcile(rt)
        self.state = "trading"
        emit("trader_started", agent=rt.name, venue=self.venue_url, strategies=list(self.loaded))
        return True

    async def step(self, rt: AgentRuntime) -> None:
        """One poll: specs, stages and a tick, then the risk housekeeping; a failure in either is
        contained (a bad tick must not end trading for good)."""
        try:
            async with self.lock:
                if rt.accepting:
                    self._follow_specs(rt)
                    await self._apply_stages(rt)
                    await self._tick(rt)
                    self._tick_episode(None)
        except Exception as e:
            emit("trader_tick_failed", error=f"{type(e).__name__}: {e}")
            self._tick_episode(e)
        self._venue_episode()
        try:
            async with self.lock:
                if rt.accepting:
                    await self._risk_housekeeping()
        except Exception as e:
            emit("trader_risk_failed", error=f"{type(e).__name__}: {e}")

    def _tick_episode(self, error: Exception | None) -> None:
        """Failing ticks are an episode on record (risk log and audit), not only stdout lines: the
        first failure of a kind (``tick_failed``), and the first good tick after (``tick_recovered``
        with how many failed) — a clock skew, a ban or an outage shows where a person looks."""
        kind = type(error).__name__ if error is not None else None
        was, n = self._failing
        if kind == was:
            self._failing = (was, n + 1)
            return
        if was is not None:
            rec = {"failed": was, "ticks": n}
            if self.risk_log is not None:
                self.risk_log.append({"kind": "tick_recovered", "ts_ns": time.time_ns(), **rec})
            self._write_audit("TickRecovered", **rec)
        self._failing = (kind, 1)
        if error is not None:
            rec = {"error": kind or "", "reason": str(error)[:500]}
            if self.risk_log is not None:
                self.risk_log.append({"kind": "tick_failed", "ts_ns": time.time_ns(), **rec})
            self._write_audit("TickFailed", **rec)

    def _venue_episode(self) -> None:
        """Trouble the venue client absorbed (retried calls, slow answers) is an episode on record
        too: ``venue_degraded`` at the first tick with some, ``venue_recovered`` after
        ``degradedClearTicks`` clean ticks — a timeout, a dropped connection or a slow ack that
        retries hid would otherwise leave no trace."""
        client = self.client
        if not isinstance(client, MonitoredClient):
            return
        seen = (client.retries, client.slow_calls)
        retries, slow = seen[0] - self._trouble_seen[0], seen[1] - self._trouble_seen[1]
        self._trouble_seen = seen
        since, clean, total = self._degraded
        if retries or slow:
            if since is None:
                rec = {"retries": retries, "slowCalls": slow, "reason": client.last_trouble}
                self._record("venue_degraded", "VenueDegraded", rec)
                self._degraded = (self.clock(), 0, (retries, slow))
            else:
                self._degraded = (since, 0, (total[0] + retries, total[1] + slow))
        elif since is not None:
            if clean + 1 < self.cfg.health.degraded_clear_ticks:
                self._degraded = (since, clean + 1, total)
                return
            rec = {"retries": total[0], "slowCalls": total[1], "seconds": round(self.clock() - since, 3)}
            self._record("venue_recovered", "VenueRecovered", rec)
            self._degraded = (None, 0, (0, 0))

    def _record(self, kind: str, audit: str, rec: dict[str, Any]) -> None:
        if self.risk_log is not None:
            self.risk_log.append({"kind": kind, "ts_ns": time.time_ns(), "venue": self.venue, **rec})
        self._write_audit(audit, venue=self.venue, **rec)

    def _open_logs(self, rt: AgentRuntime) -> None:
        """The risk log and each loadable strategy's log; raises :class:`EventLogError` when one
        does not verify (the strategies are loaded here too: a strategy without a log never runs)."""
        (self.state_dir / "eventlogs").mkdir(parents=True, exist_ok=True)
        self.risk_log = EventLog(self.state_dir / "eventlogs" / "risk.sqlite")
        for name, spec in self.specs.items():
            missing = [p for p in spec.pairs if p not in self.markets]
            loaded = None if missing else load_from_spec(name, spec)
            if not isinstance(loaded, LoadedStrategy):
                why = (
                    f"{loaded.reason}: {loaded.message}" if loaded else f"pairs {missing} not on {self.venue}"
                )
                self.skipped[name] = why
                emit("strategy_skipped", agent=rt.name, strategy=name, reason=why)
                continue
            self.loaded[name] = loaded
            self.logs[name] = EventLog(self.state_dir / "eventlogs" / f"{name}.sqlite")
            self.lineage[name] = {
                "strategyHash": code_fingerprint(spec.entrypoint, spec.params),
                "paramsFingerprint": spec_fingerprint(spec.entrypoint, spec.params),
            }

    def _halt(self, rt: AgentRuntime, why: str) -> None:
        """An event log that does not verify is the record every decision rests on (positions,
        latched switches): the trader sends nothing, says why (audit, /status, not Ready) and
        stays up — a restart cannot repair a file, and a crash loop would hide the reason."""
        for log in [*self.logs.values(), *([self.risk_log] if self.risk_log is not None else [])]:
            log.close()
        self.logs.clear()
        self.loaded.clear()
        self.risk_log = None
        self.state = f"halted: {why}"
        rt.halt(why)
        self._write_audit("TraderHalted", reason=why)

    async def _first_reconcile(self, rt: AgentRuntime) -> None:
        """79: no order before the venue has answered for what the books hold — the held orders
        settled, orphans cancelled, a baseline, and a reconciliation pass (confirmed by a second
        one when it disagrees); a venue that cannot answer yet is asked again."""
        assert self.desk is not None
        while not rt.stopping.is_set():
            try:
                async with self.lock:
                    await self.desk.first_reconcile(self._traded())
                return
            except TradingError as e:
                emit("trader_venue_unavailable", error=f"reconciliation: {e}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(rt.stopping.wait(), 1.0)

    async def _tick(self, rt: AgentRuntime) -> None:
        assert self.client is not None and self.gateway is not None
        await self._sync()
        assert self.desk is not None
        await self.desk.reconcile_if_due()  # 75: sized only on books the venue agrees with
        cash = (await self.client.fetch_balance()).get(self.cfg.cash_currency)
        if cash is not None:
            self.gateway.update_cash(cash)
        for symbol in sorted({p for n in self.loaded for p in self.specs[n].pairs}):
            book = await self.client.fetch_order_book(symbol, 20)
            reference = None
            if symbol not in self.books.accepted_mid:  # 72: a first book must agree with the last trade
                with contextlib.suppress(TradingError):
                    reference = await self.client.fetch_last_price(symbol)
            age = self.health.book_age(symbol) if self.health is not None else None
            judged = self.books.judge(book, age, reference)
            if judged.event is not None:  # a refusal episode starts or ends: in the strategies' logs
                self._log_book(symbol, *judged.event)
            if judged.mid is None:
                continue  # nothing is priced, sized or fed to a strategy off a refused book
            mid = judged.mid
            self.gateway.on_price(symbol, mid)
            unagreed = self.desk.unagreed(symbol)
            if self.paper is not None:
                for pf in await self.paper.on_book(book, mid):
                    self._on_paper_fill(pf)
            inst = f"{symbol}@{self.venue}"
            ts = book.timestamp_ms or int(self.clock() * 1000)
            self._warm_start(symbol, inst, ts)
            self.regimes.add(symbol, ts, float(mid))
            m = float(mid)
            if self.bar_memory is not None:
                self.bar_memory.record(symbol, ts, m, self.clock())
            snap = BookSnapshot(
                inst, ts, *(tuple((float(p), float(q)) for p, q in s) for s in (book.bids, book.asks))
            )
            outputs: list[tuple[str, Output]] = []
            for name, loaded in list(self.loaded.items()):
                if symbol not in self.specs[name].pairs or self.stages.get(name) is Stage.COLD:
                    continue  # COLD is backtest only: not run live at all
                outs = loaded.bar(Bar(inst, ts, m, m, m, m)) + loaded.book(snap)
                if loaded.failure is not None:
                    self.skipped[name] = loaded.failure.message
                    del self.loaded[name]
                    emit("strategy_failed", strategy=name, reason=loaded.failure.message)
                    continue
                outputs += [(name, out) for out in outs]
            self.chain.observe(symbol, m)
            judged_outs = self.chain.judge(symbol, m, outputs)  # 38, 45: the outputs judged together
            self._pending = len(judged_outs)
            for j in judged_outs:
                name, out = j.strategy, j.output
                with span("signal"):  # 95: one trace from the signal to its orders and fills
                    if isinstance(out, Signal):
                        self.logs[name].append(stamp(out.to_event(name)))
                        self._confidences.setdefault(name, []).append(float(out.confidence))
                        del self._confidences[name][:-EVIDENCE]
                    if j.refused is not None:
                        self.counts[
                            "lostArbitration" if j.refused == "lost_arbitration" else "throttled"
                        ] += 1
                        self.logs[name].append(stamp(decision_of(name, out, j.refused, j.stage, j.reason)))
                    elif rt.accepting and not unagreed:
                        await self._act(name, symbol, out, book, mid)
                self._pending -= 1
        if self.clock() - self._last_snap >= self.snapshot_s:
            self._snapshot()
            if self.bar_memory is not None:
                self.bar_memory.flush()
        self.ticks += 1

    def _warm_start(self, symbol: str, inst: str, ts: int) -> None:
        """At a pair's first accepted book after the start: feed its strategies the bars saved
        before the restart (their outputs are not acted on), so they trade warm, not blind."""
        memory = self.bar_memory
        warm = memory.take(symbol, ts, self.clock(), self.poll_s) if memory is not None else None
        if warm is None:
            return
        names = [
            n for n in self.loaded if symbol in self.specs[n].pairs and self.stages.get(n) is not Stage.COLD
        ]
        for t, p in warm.bars:
            self.regimes.add(symbol, t, p)
            for name in names:
                self.loaded[name].bar(Bar(inst, t, p, p, p, p))
        event: dict[str, Any] = {"pair": symbol, "bars": len(warm.bars)}
        if warm.bars:
            event |= {"fromTs": warm.bars[0][0], "toTs": warm.bars[-1][0], "strategies": names}
        else:
            event["reason"] = warm.why_not
        kind = "strategies_warmed" if warm.bars else "warm_start_skipped"
        for name in names:
            self.logs[name].append({"kind": kind, "ts_ns": time.time_ns(), **event})
        emit(kind, **event)

    async def _act(self, name: str, symbol: str, out: Signal | Intent, book: OrderBook, mid: Decimal) -> None:
        assert self.gateway is not None
        mine = [(c, w) for c, w in self.working.items() if w.strategy == name and w.symbol == symbol]
        for cid, w in mine:
            if self.clock() - w.sent_at >= self.reprice_s:
                await self._cancel(cid, "repricing a stale working order")
        if mine or self.inflight.blocks(name, symbol):
            return
        desk = self._paper_for(name)
        if desk is not None:
            for cid in desk.working_for(name, symbol):
                if self.clock() - desk.working[cid].placed_at >= self.reprice_s:
                    await desk.cancel(cid)
            if desk.working_for(name, symbol):
                return
        intent = out if isinstance(out, Intent) else self._size(name, symbol, out, book, mid)
        if intent is None:
            return
        if thin := check_depth(book, intent.side, intent.quantity, self.min_depth):  # 72: walks it empty
            self.counts["thinSkipped"] += 1
            self.logs[name].append({"kind": "order_skipped", "ts_ns": time.time_ns(), "reason": thin})
            return
        self._seq += 1
        req = intent.to_order_request(name, f"{int(self.clock() * 1000)}-{self._seq}", mid)
        edge = self.edge_bps if self.edge_bps is not None else expected_edge_bps(intent.attribution)
        req = dataclasses.replace(req, expected_edge_bps=float(edge), regime=self.regimes.current.get(symbol))
        assert self.desk is not None
        d = await self.desk.submit(name, req)
        if d is not None and d.action == "recorded":  # CHECK (WARM stage or CHECK gate): a paper decision
            self.counts["paper"] += 1
            del self.gateway.would_be[:-1000]  # the event log keeps them; the list is only a view
            if desk is not None:
                lineage = {**self.lineage.get(name, {}), "stage": Stage.WARM.value}
                cid = client_order_id(name, req.intent.intent_id)
                for pf in await desk.place(req.intent, cid, lineage):
                    self._on_paper_fill(pf)

    def _log_submitted(self, name: str, order: Order, cid: str, **extra: str) -> None:
        self.counts["submitted"] += 1
        self.stats[name].orders += 1
        stage = self.stages.get(name)
        lineage = {**self.lineage.get(name, {}), "stage": stage.value if stage else "", "clientOrderId": cid}
        self.logs[name].append(stamp(OrderSubmitted(order=order, lineage={**lineage, **extra})))

    def _size(self, name: str, symbol: str, sig: Signal, book: OrderBook, mid: Decimal) -> Intent | None:
        """The order taking ``name`` from its position to the signal's target: ``value`` × its
        notional, or with ``signals.volTarget`` sized to the pair's realised volatility (40)."""
        assert self.gateway is not None
        rules = self.markets[symbol]
        pos = (self._paper_for(name) or self.gateway.book).position(name, symbol)
        cap, _ = self.budget_cap(name)
        notional = self.notional[name] if cap is None else min(self.notional[name], cap)
        target = Decimal(str(sig.value)) * notional / mid
        if (vt := self.cfg.signals.vol_target) is not None and sig.value != 0:  # 40
            sized = vol_target_size(
                sig.value,
                sig.confidence,
                self.regimes.rv_per_poll(symbol),
                mid,
                notional,
                VolTargetConfig(
                    target_vol=vt.target_vol,
                    bars_per_year=365 * 86_400 / self.poll_s,
                    max_leverage=vt.max_leverage,
                    max_notional=max(
                        notional * Decimal(repr(vt.max_leverage)), rules.min_notional, Decimal(1)
                    ),
                    min_notional=rules.min_notional,
                    min_confidence=vt.min_confidence,
                    step_size=rules.step_size,
                ),
            )
            if not sized.passed:
                self.counts["sizedOut"] += 1
                self.logs[name].append(stamp(decision_of(name, sig, "sized_out", "sizing", sized.reason)))
                return None
            target = sized.quantity if sig.value > 0 else -sized.quantity
            if pos * target > 0 and abs(target - pos) <= abs(target) / 2:
                return None  # held near its size: no churn on every new volatility reading
        delta = target - pos
        qty = abs(delta).quantize(rules.step_size, rounding=ROUND_DOWN)
        if qty < rules.min_qty or qty * mid < rules.min_notional:
            return None
        side = Side.BUY if delta > 0 else Side.SELL
        levels = book.bids if (side is Side.BUY) == self.passive else book.asks  # own side if passive
        return Intent(
            instrument_id=InstrumentId(f"{symbol}@{self.venue}"),
            ts_ms=sig.ts_ms,
            confidence=sig.confidence,
            attribution=sig.attribution,
            reason=sig.reason,
            side=side,
            quantity=qty,
            price=levels[0][0].quantize(rules.tick_size),
            reduce_only=pos != 0 and (pos > 0) != (delta > 0) and qty <= abs(pos),
        )

    async def _sync(self) -> None:
        """Fills of our orders (once each) into the books, strategies and logs; closed orders."""
        assert self.desk is not None
        await self.desk.sync(self._traded())

    def _traded(self) -> set[str]:
        return {p for n in self.loaded for p in self.specs[n].pairs}

    @property
    def working(self) -> dict[str, Working]:
        return self.desk.working if self.desk is not None else {}

    def _log_book(self, symbol: str, kind: str, why: str) -> None:
        if kind == "book_rejected":
            self.counts["booksRejected"] += 1
        for n in [n for n in self.loaded if symbol in self.specs[n].pairs]:
            self.logs[n].append({"kind": kind, "ts_ns": time.time_ns(), "symbol": symbol, "reason": why})
        emit(kind, symbol=symbol, reason=why)

    def _on_booked(self, name: str, f: Fill, mf: ModelFill, before: Decimal, realised: Decimal) -> None:
        """A live fill booked by the desk: the allocator's evidence and the strategy's own state."""
        base = self.markets[f.symbol].base if f.symbol in self.markets else ""
        self.stats[name].filled(
            f.quantity, f.price, f.fee, in_base=bool(f.fee_currency) and f.fee_currency == base
        )
        if before != 0 and (f.side is Side.SELL) == (before > 0):  # reduced or reversed: a close
            self._closes.setdefault(name, []).append(realised > 0)
            del self._closes[name][:-EVIDENCE]
            self.stats[name].closed(won=realised > 0)
        if name in self.loaded:
            self.loaded[name].fill(mf)

    def _restore_positions(self) -> None:
        """Positions from each strategy's own event log, before the first tick.

        Why: sizing is target-based (target − position), so a restarted trader that believed it was
        flat would buy its whole position a second time. Live fills rebuild the gateway's book (their
        trade ids are marked seen), paper fills the paper book; each restore is logged. The budget
        allocator's evidence (the last signals' confidences, the closed trades' hits) is rebuilt too:
        without it a strategy the allocator had defunded would trade its full notional again.
        """
        assert self.gateway is not None and self.paper is not None
        for name, log in self.logs.items():
            counts = {"order_filled": 0, "paper_fill": 0}
            # one read of the log, decoding only what the fills, left_open and the evidence need
            records: list[tuple[str, dict[str, Any]]] = []
            signals: collections.deque[LogEntry] = collections.deque(maxlen=EVIDENCE)
            for e in log.entries():
                if e.kind == "signal":
                    signals.append(e)  # only the last ones are decoded
                elif e.kind in counts or e.kind in LOG_KINDS:
                    records.append((e.kind, e.data()))
            if signals:
                self._confidences[name] = [float(e.data()["lineage"]["confidence"]) for e in signals]
            for kind, d in records:
                if kind not in counts:
                    continue
                f = d["fill"] if kind == "order_filled" else d
                symbol = f["symbol"] if kind == "paper_fill" else symbol_of(f["instrument_id"])
                book = self.gateway.book if kind == "order_filled" else self.paper.positions
                qty, px, fee = (Decimal(str(f[k])) for k in ("quantity", "price", "fee"))
                side = Side(f["side"])
                fee_ccy = str(f.get("fee_currency") or "")
                ts = int(f["ts_ns"]) / 1e9
                realised, closed = book.note_fill(name, symbol, side, qty, px, fee, ts, fee_ccy)
                if kind == "order_filled":
                    assert self.desk is not None
                    self.desk.seen.add(str(f["trade_id"]))
                    if self.venue_check is not None:
                        self.venue_check.holdings.note_fill(symbol, side, qty, px, fee, fee_ccy)
                    if closed:  # the same rule as _on_booked: any fill against the position
                        self._closes.setdefault(name, []).append(realised > 0)
                counts[kind] += 1
            del self._closes.setdefault(name, [])[:-EVIDENCE]
            held = left_open(name, records)
            for cid, item in held.items():  # asked of the venue at the first sync, before any send
                self.inflight.add(cid, item)
            counts["heldOrders"] = len(held)
            if any(counts.values()):
                positions = {
                    kind: {p: str(h.qty) for (s, p), h in b.holdings.items() if s == name}
                    for kind, b in (("live", self.gateway.book), ("paper", self.paper.positions))
                }
                rec = {"fills": counts["order_filled"], "paperFills": counts["paper_fill"]} | {
                    "heldOrders": counts["heldOrders"],
                    "positions": positions,
                }
                log.append({"kind": "positions_restored", "ts_ns": time.time_ns(), "strategy_id": name} | rec)
                emit("positions_restored", agent=self.agent, strategy=name, **rec)

    def _restore_latched(self) -> None:
        """Latched kill switches (drawdown, cash floor) stay tripped across a restart: fail closed.

        Why: only a human lifts them, and a crash, a recycle or a rolling restart is no human
        decision. The last ``risk_kill_switch`` event of each latched (scope, switch) in
        ``risk.sqlite`` says whether it is still set; a set one is set again, audited with its
        original reason. A human who reviewed it lifts it by writing an instant after the trip to
        ``spec.config.resetLatchedBefore``: at the next start it is lifted, audited in the log, so
        it stays lifted even after that key is gone. A consecutive-loss STOP whose cool-down has
        not elapsed is set again for the rest of it (a restart must not end a cool-down early).
        """
        assert self.gateway is not None and self.risk_log is not None
        restored = LATCHED | {COOLDOWN}
        tripped: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}  # first trip since the last lift
        for e in self.risk_log.entries():
            if e.kind == "risk_kill_switch" and (d := e.data())["switch"] in restored:
                key = (d["scope"], d["switch"])
                if d["gate"] is None:
                    tripped.pop(key, None)
                elif key not in tripped:  # a restore sets it again: the trip is the first event
                    tripped[key] = (e.ts_ns, d)
        cutoff = self.reset_latched_before
        for (scope, switch), (ts_ns, d) in sorted(tripped.items()):
            why = f"restored after restart: {d['reason']}"
            if switch == COOLDOWN:
                strategy = scope.removeprefix("strategy/")
                left = ts_ns / 1e9 + self.gateway.policies(strategy)[0].loss_cooldown_seconds - time.time()
                if left <= 0:
                    continue  # elapsed while we were down: nothing to hold
                self.gateway.losses.until[strategy] = self.gateway.clock() + left
                why += f" ({left:.0f}s of cool-down left)"
            self.gateway.apply([SwitchAction(scope, switch, Gate(d["gate"]), why)], actor="restart")
            if switch in LATCHED and cutoff is not None and ts_ns < cutoff.timestamp() * 1e9:
                why = f"tripped before spec.config.resetLatchedBefore {cutoff.isoformat()}"
                self.gateway.reset_kill_switch(scope, switch, actor="config/resetLatchedBefore", reason=why)

    def _paper_for(self, name: str) -> PaperDesk | None:
        """The paper desk while ``name`` runs at WARM (its orders, positions and PnL are paper)."""
        return self.paper if self.stages.get(name) is Stage.WARM else None

    def _on_paper_fill(self, pf: PaperFilled) -> None:
        """A WARM strategy's paper fill: to its log and to the strategy, like a live fill."""
        self.counts["paperFilled"] += 1
        name = pf.strategy_id
        if name in self.logs:
            self.logs[name].append(pf)
        if name in self.loaded:
            self.loaded[name].fill(
                ModelFill(
                    client_order_id=ClientOrderId(pf.client_order_id),
                    trade_id=f"paper-{self.counts['paperFilled']}",
                    instrument_id=InstrumentId(f"{pf.symbol}@{self.venue}"),
                    side=OrderSide(pf.side),
                    price=Decimal(pf.price),
                    quantity=Decimal(pf.quantity),
                    fee=Decimal(pf.fee),
                    liquidity=LiquiditySide(pf.liquidity),
                    ts_ns=pf.ts_ns,
                )
            )

    def _snapshot(self) -> None:
        assert self.gateway is not None
        self._last_snap = self.clock()
        book, cap = self.gateway.book, self.gateway.default_capital()
        gross = book.gross_exposure()
        util: dict[str, float] = {}
        for name, log in self.logs.items():
            desk = self._paper_for(name)
            own = desk.positions if desk is not None else book
            pnl, equity = own.pnl(name), own.equity(name, book.capital.get(name, cap))
            rec: dict[str, Any] = {"strategy": name, "pnl": float(pnl), "equity": float(equity)}
            if desk is not None:
                rec["paper"] = True
            log.append({"kind": "PnlSnapshot", "ts_ns": time.time_ns(), **rec})
            self._write_audit("PnlSnapshot", **rec)
            exp = sum(abs(h.qty) * book.mark(p, h.avg) for (s, p), h in book.holdings.items() if s == name)
            util[name] = float(exp / gross) if gross else 0.0
        heat = concentration_heatmap(book, self.gateway.global_policy)
        self._write_audit("RiskUtilisation", utilisation=util, heatmap=heat)

    async def _on_gate(self, gate: Gate, source: str) -> None:
        async with self.lock:
            if gate in (Gate.PAUSE, Gate.STOP):
                for cid, w in list(self.working.items()):
                    if gate is Gate.STOP or not w.reduce_only:
                        await self._cancel(cid, f"gate {gate.value} from {source}")
            if self.gateway is not None:
                await self._unwind(f"agent gate {gate.value} from {source}")

    async def _apply_stages(self, rt: AgentRuntime) -> None:
        """Bring every loaded strategy to the stage its Strategy object says (see the module doc)."""
        assert self.gateway is not None
        for name in list(self.loaded):
            new, why = rt.gates.stage_of(name, self.specs[name].desired_stage.value)
            old = self.stages.get(name)
            if new is old:
                continue
            self.stages[name] = new
            self.gateway.apply(
                [SwitchAction(strategy_scope(name), "stage", STAGE_GATE[new], f"stage {new.value}: {why}")],
                actor="stage",
            )
            cancelled = 0
            if old is Stage.WARM and self.paper is not None:  # paper orders belong to the WARM stage
                for cid in self.paper.working_for(name):
                    await self.paper.cancel(cid)
            self.gateway.paper_books.pop(name, None)
            if new is Stage.WARM and self.paper is not None:  # judged on its paper positions
                self.gateway.paper_books[name] = self.paper.positions
            if new is not Stage.HOT:  # paper or backtest only: no live order of it may stay working
                for cid, w in list(self.working.items()):
                    if w.strategy == name:
                        cancelled += await self._cancel(cid, f"stage {new.value}: {why}")
            self._audit_sink(
                StageApplied(
                    ts_ns=time.time_ns(),
                    strategy_id=name,
                    old=old.value if old else None,
                    new=new.value,
                    reason=why,
                    cancelled=cancelled,
                )
            )
            emit("stage_applied", agent=rt.name, strategy=name, old=old, new=new.value, reason=why)

    # -- risk in the live loop (58, 60, 61, 62) ----------------------------------------------------
    async def _risk_housekeeping(self) -> None:
        """After every tick: health switches, cluster decay, scope cancels, the unwind ladders."""
        assert self.gateway is not None and self.health is not None
        self.gateway.apply(health_actions(self.health.snapshot(), self.thresholds), actor="execution-health")
        self.gateway.cluster_tick()
        gs = self.gateway.gate_state
        epoch = (self.gateway.gate_epoch, gs.version if gs is not None else 0)
        if epoch != self._epoch:  # a gateway switch or a gate seen on the control plane moved
            self._epoch = epoch
            await self._enforce_scopes()
        await self._unwind("stopped position")
        for o in self.gateway.stale_orders():  # 65: nobody re-decided it within the TTL
            if o.client_order_id in self.working and (o.strategy, o.symbol) not in self.ladders:
                ttl = min(p.stale_order_ttl_seconds for p in self.gateway.policies(o.strategy))
                if await self._cancel(o.client_order_id, f"stale-order TTL: working for more than {ttl:g}s"):
                    self.counts["staleCancelled"] += 1
        if self.allocator is not None and self.clock() - self._last_alloc >= self.allocator_s:
            self._rebalance()

    async def _enforce_scopes(self) -> None:
        """A scope that moved to STOP cancels its working orders; PAUSE cancels the entries."""
        assert self.gateway is not None
        venue = f"venue/{self.venue}"
        for cid, w in list(self.working.items()):
            scopes = (GLOBAL, strategy_scope(w.strategy), pair_scope(w.symbol), venue)
            gate = Gate.most_restrictive(*(self.gateway.scope_gate(sc) for sc in scopes))
            if gate is Gate.STOP or (gate is Gate.PAUSE and not w.reduce_only):
                await self._cancel(cid, f"risk scope gate {gate.value}")

    async def _unwind(self, reason: str) -> None:
        """Start ladders for stopped positions, abort those no longer stopped, step the due ones."""
        assert self.gateway is not None and self.desk is not None
        book = self.gateway.book
        stopped = {  # dust (below what the venue trades, e.g. a buy's fee in base) is left alone
            (s, p): why
            for s, p, why in stopped_positions(self.gateway)
            if (r := self.markets.get(p)) is None or not r.dust(book.position(s, p))
        }
        for key, ladder in list(self.ladders.items()):
            if ladder.done or ladder.interrupted:
                del self.ladders[key]
            elif key not in stopped and ladder.remaining == 0:
                await ladder.step()  # flat: the ladder records its completion
                del self.ladders[key]
            elif key not in stopped:
                g = self.gateway.scope_gate(GLOBAL).value
                await ladder.abort(f"STOP lifted (global gate now {g}): unwind interrupted")
                del self.ladders[key]
        now = self.clock()
        for key, why in stopped.items():
            lad = self.ladders.get(key)
            if lad is None:
                strategy, pair = key
                rules = self.markets.get(pair)
                lad = UnwindLadder(
                    self.gateway,
                    strategy,
                    pair,
                    aggressive_bps=self.unwind_bps,
                    reason=f"{reason}: {why}",
                    step_size=rules.step_size if rules else Decimal("0.00000001"),
                    min_qty=rules.min_qty if rules else Decimal(0),
                    on_child=functools.partial(self.desk.track_child, strategy),
                    sync=self._sync,
                    lookup=self.desk.lookup,
                )
                self.ladders[key] = lad
                self._ladder_at[key] = 0.0
            if now - self._ladder_at[key] >= self.unwind_s:
                self._ladder_at[key] = now
                await lad.step()
                if lad.done:
                    del self.ladders[key]

    def _rebalance(self) -> None:
        """60: re-split the risk budget from live evidence; every change is a BudgetChanged report."""
        assert self.gateway is not None and self.allocator is not None
        self._last_alloc = self.clock()
        scores = []
        for name in self.loaded:
            conf = self._confidences.get(name) or [0.5]
            closes = self._closes.get(name) or []
            mean = sum(conf) / len(conf)
            hit = sum(closes) / len(closes) if closes else 0.5
            scores.append(StrategyScore(name, mean, abs(mean - hit), len(closes)))
        if not scores:
            return
        result = self.allocator.rebalance(Decimal(str(self.global_policy.risk_budget)), scores)
        for name, amount in result.amounts().items():
            self._budget[name] = amount  # caps sizing (see budget_cap)
            if amount > 0:
                self.gateway.set_capital(name, amount)

    def budget_cap(self, name: str) -> tuple[Decimal | None, str]:
        """The most notional ``name`` may target now, and why (None = no cap). A strategy the
        allocator has not scored yet (the first tick after a start, a strategy just added) is
        scored now, from the evidence rebuilt from its log, before it may size anything: else it
        would trade its full notional until the next rebalance."""
        if self.allocator is None:
            return None, "no allocator"
        if name not in self._budget and self.gateway is not None:
            self._rebalance()
        if name not in self._budget:
            return None, "not allocated yet"
        amount, closes = self._budget[name], len(self._closes.get(name) or [])
        if amount == 0 and closes < self.allocator.config.min_samples:
            return None, f"exploring: {closes} closed trades < minSamples {self.allocator.config.min_samples}"
        return amount, f"allocated {amount}"

    async def _cancel(self, cid: str, reason: str) -> bool:
        return await self.desk.cancel(cid, reason) if self.desk is not None else False

    async def cancel_working_orders(self) -> int:
        async with self.lock:  # waits for a tick in progress: nothing is sent after this
            if self.desk is None:
                return 0
            await self.desk.settle_held()  # an adopted working order is cancelled below
            for key, ladder in list(self.ladders.items()):
                with contextlib.suppress(TradingError):
                    await ladder.abort("agent shutting down")
                del self.ladders[key]
            return sum([await self._cancel(c, "agent shutting down") for c in list(self.working)])

    async def flush(self) -> None:
        if self.bar_memory is not None:
            with contextlib.suppress(OSError):
                self.bar_memory.flush()
        if self.gateway is not None:
            with contextlib.suppress(TradingError):
                async with self.lock:
                    await self._sync()
        for loaded in self.loaded.values():
            loaded.stop()
        for log in self.logs.values():
            log.close()
        self.logs.clear()
        if self.risk_log is not None:
            self.risk_log.close()
            self.risk_log = None
        if self.recorder is not None:
            await self.recorder.close()  # waits for Events still being written
        if self.client is not None:
            await self.client.close()
        if self._writer_task is not None:  # ends with the agent's stop; releases the writer lease
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer_task, 5.0)

    def queue_length(self) -> int:
        return max(self._pending, 0)

    def open_orders(self) -> int:
        return len(self.working)

    def _stats_of(self, name: str) -> dict[str, Any]:
        pnl = self.gateway.book.pnl(name) if self.gateway is not None else Decimal(0)
        return self.stats[name].describe() | {"pnl": str(pnl)}

    def describe(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "venueAgent": self.venue_agent,
            "venueUrl": self.venue_url,
            "writer": self.writer.describe() if self.writer is not None else None,
            "strategies": sorted(self.loaded),
            "skipped": self.skipped,
            "orders": dict(self.counts),
            "stages": {n: st.value for n, st in sorted(self.stages.items())},
            "ticks": self.ticks,
            "positions": {  # live positions (base units) per strategy and pair, as booked
                f"{s}|{p}": str(h.qty)
                for (s, p), h in sorted(self.gateway.book.holdings.items())
                if self.gateway is not None and h.qty
            }
            if self.gateway is not None
            else {},
            "working": len(self.working),
            "openOrders": [
                {"clientOrderId": c, "strategy": w.strategy, "pair": w.symbol, "reduceOnly": w.reduce_only}
                | {"ageSeconds": round(self.clock() - w.sent_at, 1)}
                for c, w in sorted(self.working.items(), key=lambda cw: cw[1].sent_at)
            ],
            "recentFills": list(self.desk.recent)[::-1] if self.desk is not None else [],
            "books": {  # data freshness per pair: a refused book prices nothing and feeds no strategy
                p: {
                    "ageSeconds": None if age is None else round(age, 1),
                    "refused": self.bad_books.get(p),
                }
                for p in sorted({p for s in self.specs.values() for p in s.pairs})
                for age in [self.health.book_age(p) if self.health is not None else None]
            },
            "stats": {n: self._stats_of(n) for n in sorted(self.specs)},
            "unresolved": sorted(self.inflight.items),
            "budgets": {
                n: {"cap": None if c is None else str(c), "why": why}
                for n in sorted(self.loaded)
                for c, why in [self.budget_cap(n)]
            },
            "paperWorking": len(self.paper.working) if self.paper is not None else 0,
            "killSwitches": {
                sc: {k: g.value for k, g in self.gateway.switches(sc).items()}
                for sc in [
                    "global",
                    f"venue/{self.venue}",
                    *(f"strategy/{n}" for n in self.specs),
                    *(f"pair/{p}" for p in sorted({p for s in self.specs.values() for p in s.pairs})),
                    *(f"regime/{r}" for r in ("trend", "range", "high_vol")),
                ]
                if self.gateway is not None and self.gateway.switches(sc)
            },
            "unwinding": [
                {"strategy": s, "pair": p, "remaining": str(lad.remaining), "steps": len(lad.steps)}
                for (s, p), lad in self.ladders.items()
            ],
            "health": self.health.describe() if self.health is not None else None,
            "venueRetries": self.client.retries if isinstance(self.client, MonitoredClient) else 0,
            "regimes": dict(self.regimes.current),
            "reconciliation": self.venue_check.describe() if self.venue_check is not None else None,
        }
