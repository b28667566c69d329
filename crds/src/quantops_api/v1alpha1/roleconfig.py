"""Typed ``spec.config`` per Agent role: one pydantic model per role, unknown keys refused.

Why it exists: ``AgentSpec.config`` is free-form on the wire (each role reads its own keys), so a
misspelt key used to be silently ignored and the role ran on a default. These models are the one
list of the keys each role reads, with today's defaults and obvious bounds; they are used three
times: :class:`~quantops_api.v1alpha1.agent.AgentSpec` validates ``config`` with them (``quantops
validate``/``quantops up``, the operator), :func:`config_rules` turns their key lists into the CRD's
CEL rules (the API server refuses an unknown key per role), and the agent runtime validates its
config with :func:`role_config` before any work starts.

Where keys travel: only what a manifest writes is in ``spec.config``. What the operator or
``quantops up`` adds for an agent (``strategySpecs``, ``riskPolicies``, ``venues``, ``strategies``,
``heartbeatSeconds``, ``apiLossGraceSeconds``, ``probes``) sits beside ``config`` in the agent's
config file (:class:`AgentConfigFile`), never inside it; ``quantops up --speed`` sets
``venue.speed``, a key of the venue-sim's ``venue`` block.

Two blocks are opaque here because their models live in the trading library, which this package
may not import: the venue-sim's ``venue`` (``quantops_trading.venue.config.VenueConfig``) and the
pipeline's ``flags`` (``quantops_trading.pipeline.flags.RunFlags``). Both forbid unknown keys
themselves; ``quantops_trading.runtime.roleconfig`` checks them with the same error format.

Errors: :class:`RoleConfigError` (a ``ValueError``) names every field by its wire path
(``spec.config.health.p99LimitSeconds``) and, for an unknown key, the closest known one.
What this module must not do: import anything beyond pydantic and the standard library.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, Self, Union, get_args, get_origin

import annotated_types
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from quantops_api.meta import Gate, as_the_api_server_reads

__all__ = [
    "KEYS_IN_SPEC",
    "ROLE_CONFIGS",
    "AgentConfigFile",
    "AlertChannel",
    "AlertRoute",
    "AlertsConfig",
    "CanaryConfig",
    "FeedConfig",
    "PipelineConfig",
    "RoleConfig",
    "RoleConfigError",
    "SupervisorConfig",
    "TraderAdverseCluster",
    "TraderAllocator",
    "TraderConfig",
    "TraderHealth",
    "TraderPaper",
    "TraderRegime",
    "TraderSignals",
    "TraderThrottle",
    "TraderVolTarget",
    "VenueSimConfig",
    "check_object_name",
    "config_rules",
    "config_schema",
    "describe_errors",
    "known_keys",
    "role_config",
]

Port = Annotated[int, Field(ge=0, le=65535)]

KEYS_IN_SPEC = (
    "exchange keys never go in a spec (a spec is copied into the ConfigMap of the agent, the "
    "last-applied annotation and every dump of the object): put apiKey and secret in a Secret and "
    "name it in spec.config.exchangeSecret"
)  # no quote characters: it is also a CEL string literal (config_rules)
VENUE_HOSTS = (
    "Hosts a venueUrl may name to receive this agent's exchange keys (https only); a discovered "
    "venue-sim or a loopback simulator needs none."
)
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_object_name(v: str) -> str:
    """A Kubernetes object name (DNS-1123 subdomain), else ValueError saying what it must be."""
    if len(v) > 253 or not _DNS1123.match(v):
        raise ValueError(
            f"{v!r} is not a valid object name (lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 253 characters)"
        )
    return v


class _Block(BaseModel):
    """camelCase on the wire only (a snake_case key would pass pydantic but not the CRD's rules);
    nulls and booleans read as the API server reads them."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=False)

    @model_validator(mode="before")
    @classmethod
    def _wire(cls, data: Any) -> Any:
        return as_the_api_server_reads(cls, data)


class RoleConfig(_Block):
    """Keys every role takes."""

    role: ClassVar[str] = ""

    exchange_secret: str | None = Field(
        default=None,
        json_schema_extra={"pattern": _DNS1123.pattern, "objectName": True},
        description="Secret (apiKey/secret entries) holding this agent's exchange keys: on Kubernetes "
        "the operator injects them into its pods as env (the kubelet resolves them); under quantops up "
        "they are <state-dir>/secrets/<name>/{apiKey,secret} (made for the simulator if absent).",
    )
    # Typed so that CEL can refuse them by name (config_rules); never accepted.
    api_key: str | None = Field(default=None, repr=False, description=f"Refused: {KEYS_IN_SPEC}")
    api_secret: str | None = Field(default=None, repr=False, description=f"Refused: {KEYS_IN_SPEC}")

    @field_validator("exchange_secret")
    @classmethod
    def _secret_name(cls, v: str | None) -> str | None:
        if v is not None:
            check_object_name(v)
        return v

    @field_validator("api_key", "api_secret")
    @classmethod
    def _no_keys(cls, v: str | None) -> None:
        if v is not None:
            raise ValueError(KEYS_IN_SPEC)
        return

    def secret_refs(self) -> list[str]:
        """The Secrets this agent's pods read (the operator mounts or injects them; quantops up
        keeps them under <state-dir>/secrets)."""
        return ([self.exchange_secret] if self.exchange_secret else []) + self.account_secret_refs()

    def account_secret_refs(self) -> list[str]:
        """The Secrets of simulated venue accounts (a venue-sim's), other than ``exchangeSecret``."""
        return []


# -- alerts (supervisor, pipeline) ----------------------------------------------------------------
class AlertChannel(_Block):
    # router_from_config also knows "kube-events", but only with an event sink, which neither the
    # supervisor nor the pipeline passes: that type would fail at start, so it is refused here.
    type: Literal["webhook", "file"] = "file"
    url: str | None = Field(default=None, description="webhook: where alerts are POSTed.")
    path: str = Field(default="alerts.jsonl", description="file: relative to the state dir.")
    timeout: float = Field(default=5.0, gt=0, description="webhook: seconds per POST.")

    @model_validator(mode="after")
    def _webhook_url(self) -> Self:
        if self.type == "webhook" and not self.url:
            raise ValueError("a webhook channel needs a url")
        return self


Severity = Literal["info", "warning", "critical"]


class AlertRoute(_Block):
    severities: list[Severity] = Field(
        default_factory=lambda: list[Severity](["info", "warning", "critical"])
    )
    scopes: list[str] = Field(default_factory=lambda: ["*"], description="fnmatch globs on the alert scope.")
    channels: list[str]


class AlertsConfig(_Block):
    """``quantops_trading.observability.alerts.router_from_config``; default: every alert to a file."""

    channels: dict[str, AlertChannel] | None = Field(
        default=None, description="name → channel; unset = one file channel (alerts.jsonl)."
    )
    routes: list[AlertRoute] | None = Field(default=None, description="unset = every alert to every channel.")
    dedup_seconds: float = Field(default=300.0, ge=0)
    per_minute: int = Field(default=20, ge=1)


# -- trader ---------------------------------------------------------------------------------------
def _iso_instant(value: object) -> object:
    """ISO 8601 as ``datetime.fromisoformat`` reads it (UTC when no zone is given), as the trader
    always has; "" means unset. Anything else is left to pydantic (which refuses it)."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time") from None
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return value


Instant = Annotated[
    dt.datetime | None,
    BeforeValidator(_iso_instant),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Bps = Annotated[Decimal, Field(ge=0)]


class TraderHealth(_Block):
    """Venue health → ``venue/<venue>`` kill switches (``HealthThresholds``, ``BreakerConfig``) and
    the retries of idempotent venue calls (``execution.retry``)."""

    max_dns_failures: int = Field(default=3, ge=1)
    telemetry_max_age_seconds: float = Field(default=30.0, gt=0)
    p99_limit_seconds: float = Field(default=1.0, gt=0)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=5.0, gt=0)
    retry_attempts: int = Field(default=3, ge=1, description="Tries of an idempotent venue call (1 = none).")
    retry_base_seconds: float = Field(default=0.05, ge=0)
    retry_max_seconds: float = Field(default=1.0, ge=0)
    latency_window: int = Field(default=200, ge=1)
    latency_min_samples: int = Field(default=20, ge=1)
    slow_call_seconds: float = Field(
        default=2.0, gt=0, description="A venue call slower than this marks the venue degraded (on record)."
    )
    degraded_clear_ticks: int = Field(
        default=3, ge=1, description="Clean ticks in a row that end a degraded-venue episode."
    )


class TraderAdverseCluster(_Block):
    """``AdverseClusterDetector``: losing closes clustered by regime/pair throttle, then pause."""

    window_seconds: float = Field(default=3600.0, gt=0)
    throttle_at: int = Field(default=3, ge=1)
    pause_at: int = Field(default=5, ge=1)
    throttle_interval_seconds: float = Field(default=60.0, ge=0)


class TraderRegime(_Block):
    """``signals.regime.RegimeConfig`` (same bounds) plus the realised-volatility window."""

    window: int = Field(default=30, ge=2)
    trend_efficiency: float = Field(default=0.3, gt=0.0, lt=1.0)
    vol_lookback: int = Field(default=720, ge=20)
    high_vol_quantile: float = Field(default=0.9, gt=0.5, lt=1.0)
    rv_window: int = Field(default=20, ge=2)


class TraderThrottle(_Block):
    """``signals.throttle.ThrottleConfig`` (same bounds) plus how an entry's outcome is judged:
    at ``horizonSeconds`` after it, a move in its favour of ``costBps`` or less is a false positive."""

    enabled: bool = True
    horizon_seconds: float = Field(default=300.0, gt=0)
    cost_bps: float = Field(default=20.0, ge=0, description="Round-trip cost an entry must beat.")
    window: int = Field(default=40, ge=5)
    min_samples: int = Field(default=20, ge=1)
    max_fp_rate: float = Field(default=0.65, gt=0.0, le=1.0)
    release_fp_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    throttled_min_confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    throttled_every: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _hysteresis(self) -> Self:
        if self.release_fp_rate > self.max_fp_rate:
            raise ValueError("releaseFpRate must not exceed maxFpRate")
        return self


class TraderVolTarget(_Block):
    """``signals.sizing.VolTargetConfig``: a signal sized to an annualised volatility target, the
    strategy's notional as its equity; the block's presence turns it on (else a fixed notional)."""

    target_vol: float = Field(default=0.20, gt=0.0, le=5.0, description="Annualised volatility target.")
    max_leverage: float = Field(default=1.0, gt=0.0, le=20.0, description="× the strategy's notional.")
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)


class TraderSignals(_Block):
    """The strategies' outputs judged together before sizing (``runtime/signal_chain.py``)."""

    arbitration: bool = Field(
        default=True, description="Opposing entries on one pair: only the most confident acts (38)."
    )
    min_confidence: float = Field(default=0.0, ge=0, le=1, description="An entry below this is refused.")
    throttle: TraderThrottle = Field(default_factory=TraderThrottle)
    vol_target: TraderVolTarget | None = Field(default=None, description="Unset: a fixed notional (40).")


class TraderWarmStart(_Block):
    """``runtime/bar_memory.py``: the bars fed to the strategies, kept on the state volume so a
    restarted trader starts warm instead of blind for the strategies' warm-up."""

    enabled: bool = True
    keep_bars: int = Field(default=1000, ge=2, le=100_000, description="Bars kept per pair.")
    max_gap_bars: float = Field(
        default=60.0, gt=0, description="Saved bars older than this many bar spacings are dropped."
    )


class TraderAllocator(_Block):
    """``BudgetAllocator``; the block's presence turns budgets on."""

    rebalance_seconds: float = Field(default=60.0, gt=0)
    min_confidence: float = Field(default=0.52, ge=0, le=1)
    max_calibration_error: float = Field(default=0.25, ge=0)
    min_samples: int = Field(default=50, ge=0)
    max_share: float = Field(default=0.5, gt=0, le=1)


class TraderPaper(_Block):
    """Fees of the paper desk that fills WARM strategies' would-be orders."""

    maker_fee_bps: Bps = Decimal("10")
    taker_fee_bps: Bps = Decimal("10")


class TraderConfig(RoleConfig):
    """``runtime/trader_role.py``: every key it reads, with its defaults."""

    role: ClassVar[str] = "trader"

    poll_seconds: float = Field(default=1.0, gt=0, description="Book poll (one bar) interval.")
    order_style: Literal["aggressive", "passive"] = "aggressive"
    reprice_seconds: float = Field(default=10.0, gt=0, description="A passive order is re-priced after this.")
    expected_edge_bps: float | None = Field(
        default=None, description="Overrides every order's expected edge for the fee guard."
    )
    snapshot_seconds: float = Field(default=5.0, gt=0, description="PnL snapshot interval.")
    health: TraderHealth = Field(default_factory=TraderHealth)
    adverse_cluster: TraderAdverseCluster = Field(default_factory=TraderAdverseCluster)
    regime: TraderRegime = Field(default_factory=TraderRegime)
    unwind_step_seconds: float = Field(default=1.0, gt=0)
    reset_latched_before: Instant = Field(
        default=None, description="Latched kill switches tripped before this instant are lifted at start."
    )
    unwind_aggressive_bps: Bps = Decimal("20")
    allocator: TraderAllocator | None = Field(default=None, description="Unset: no budget allocation.")
    max_fee_rate: Annotated[Decimal, Field(ge=0)] = Decimal("0.01")
    price_collar_bps: Annotated[Decimal, Field(gt=0)] = Decimal("1000")
    price_collar_confirm_seconds: float = Field(default=60.0, ge=0)
    max_book_age_seconds: float = Field(
        default=60.0, gt=0, description="A book that has not changed this long is stale (not traded on)."
    )
    min_depth_ratio: Annotated[Decimal, Field(ge=0)] = Field(
        default=Decimal("1"),
        description="The book side an order takes must hold at least this × its quantity.",
    )
    unresolved_grace_seconds: float = Field(default=20.0, gt=0)
    reconcile_seconds: float = Field(default=30.0, gt=0, description="Books vs the venue's balances.")
    paper: TraderPaper = Field(default_factory=TraderPaper)
    signals: TraderSignals = Field(default_factory=TraderSignals)
    warm_start: TraderWarmStart = Field(default_factory=TraderWarmStart)
    notional_per_strategy: Annotated[Decimal, Field(ge=0)] | dict[str, Annotated[Decimal, Field(ge=0)]] = (
        Field(
            default=Decimal("500"),
            description="Quote currency at |signal| = 1: one amount, or strategy → amount (absent = 0).",
        )
    )
    venue_agent: str | None = Field(default=None, description="Which venue-sim agent; default the first.")
    venue_url: str | None = Field(default=None, description="A venue URL instead of discovery.")
    venue_name: str | None = Field(default=None, description="The venue's name (with venueUrl).")
    venue_hosts: list[str] = Field(default_factory=list, description=VENUE_HOSTS)
    cash_currency: str = Field(default="USDT", min_length=1)

    @field_validator("notional_per_strategy", mode="before")
    @classmethod
    def _one_shape(cls, v: object) -> object:
        """One clear error instead of one per union member."""

        def amount(x: object, where: str) -> Decimal:
            try:
                if isinstance(x, bool | Mapping | list):
                    raise ValueError
                d = Decimal(str(x))
            except (ValueError, ArithmeticError):
                raise ValueError(f"{where}must be an amount or a map of strategy → amount") from None
            if not d.is_finite() or d < 0:
                raise ValueError(f"{where}must be a finite amount >= 0, got {x!r}")
            return d

        if isinstance(v, Mapping):
            return {str(k): amount(x, f"{k}: ") for k, x in v.items()}
        return amount(v, "")

    def notional_for(self, strategy: str) -> Decimal:
        raw = self.notional_per_strategy
        return raw.get(strategy, Decimal(0)) if isinstance(raw, dict) else raw


# -- canary, pipeline, supervisor, venue-sim, feed ------------------------------------------------
class CanaryConfig(RoleConfig):
    """``runtime/canary_role.py``."""

    role: ClassVar[str] = "canary"

    interval_seconds: float = Field(default=60.0, gt=0)
    hop_timeout_seconds: float = Field(default=5.0, gt=0)
    notional_margin: Annotated[Decimal, Field(gt=0)] = Decimal("1.2")
    gate_scope: str = Field(
        default="global",
        description="global, riskpolicy/NAME, agent/NAME or strategy/NAME.",
        json_schema_extra={"pattern": r"^(?i)(global|(global|riskpolicy|agent|strategy)/.+)$"},
    )
    fail_gate: Gate = Gate.PAUSE
    recover_after_passes: int = Field(default=3, ge=1)
    recheck_seconds: float = Field(
        default=10.0,
        gt=0,
        description="While the canary holds its own NO_GO for a transient venue fault: the interval of its "
        "runs (read-only checks), so a lift takes recoverAfterPasses of these, not of intervalSeconds.",
    )
    symbol: str = Field(default="", description="Probe symbol; empty = the venue's first.")
    expected_edge_bps: float = 10000.0
    slippage_bps: Bps = Decimal("100")
    venue_agent: str | None = None
    venue_url: str | None = None
    venue_hosts: list[str] = Field(default_factory=list, description=VENUE_HOSTS)

    @field_validator("gate_scope")
    @classmethod
    def _scope(cls, v: str) -> str:
        head, _, name = v.partition("/")
        head = head.lower()
        if not (
            (head == "global" and not name)
            or (head in ("global", "riskpolicy", "agent", "strategy") and name)
        ):
            raise ValueError(f"{v!r} is not global, riskpolicy/NAME, agent/NAME or strategy/NAME")
        return v


class PipelineConfig(RoleConfig):
    """``runtime/pipeline_role.py``."""

    role: ClassVar[str] = "pipeline"

    interval_minutes: float = Field(default=15.0, gt=0)
    interval_seconds: float | None = Field(default=None, gt=0, description="Overrides intervalMinutes.")
    jitter_seconds: float = Field(default=0.0, ge=0)
    data: dict[str, str] = Field(default_factory=dict, description="pair → candle file (data dir relative).")
    flags: dict[str, Any] = Field(
        default_factory=dict, description="RunFlags overrides (quantops_trading.pipeline.flags)."
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    @property
    def interval(self) -> float:
        """The cycle interval in seconds."""
        return self.interval_seconds or self.interval_minutes * 60

    @field_validator("jitter_seconds")
    @classmethod
    def _jitter(cls, v: float, info: ValidationInfo) -> float:
        interval = info.data.get("interval_seconds") or info.data.get("interval_minutes", 15.0) * 60
        if v >= interval:
            raise ValueError(f"must be in [0, interval {interval:g}s), got {v:g}")
        return v


class SupervisorConfig(RoleConfig):
    """``runtime/supervisor_role.py``."""

    role: ClassVar[str] = "supervisor"

    dashboard_host: str = "127.0.0.1"
    dashboard_port: Port = 0
    poll_seconds: float = Field(default=1.0, gt=0)
    snapshot_seconds: float = Field(default=5.0, gt=0)
    audit_report_seconds: float = Field(default=3600.0, gt=0)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    starvation_threshold: float = Field(default=5.0, gt=0)
    ticket_threshold: int = Field(default=3, ge=1)
    ticket_window_seconds: float = Field(default=600.0, gt=0)


class VenueSimConfig(RoleConfig):
    """``runtime/roles.py`` (VenueWork). In a pod the operator's env vars win over host/port."""

    role: ClassVar[str] = "venue-sim"

    host: str = "127.0.0.1"
    port: Port = 0
    venue: dict[str, Any] | None = Field(
        default=None,
        description="quantops_trading.venue.config.VenueConfig (required to start); each of its "
        "apiKeys names the Secret holding the account's key and secret (secretRef).",
    )

    @field_validator("venue")
    @classmethod
    def _accounts_by_secret(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        """The simulator's accounts are keys like any other: by Secret, never inline."""
        accounts = (v or {}).get("apiKeys") or []
        problems = []
        for i, account in enumerate(accounts if isinstance(accounts, list) else []):
            if not isinstance(account, Mapping):
                continue
            if "secret" in account:
                where = f"venue.apiKeys[{i}].secretRef"
                problems.append(f"apiKeys[{i}].secret: {KEYS_IN_SPEC.replace('exchangeSecret', where)}")
            ref = account.get("secretRef")
            if ref is not None:
                try:
                    check_object_name(str(ref))
                except ValueError as e:
                    problems.append(f"apiKeys[{i}].secretRef: {e}")
        if problems:
            raise ValueError("; ".join(problems))
        return v

    def account_secret_refs(self) -> list[str]:
        refs: list[str] = []
        for account in (self.venue or {}).get("apiKeys") or []:
            ref = account.get("secretRef") if isinstance(account, Mapping) else None
            if ref and ref != self.exchange_secret and ref not in refs:
                refs.append(str(ref))
        return refs


class FeedConfig(RoleConfig):
    """The feed role has no work of its own yet."""

    role: ClassVar[str] = "feed"


ROLE_CONFIGS: dict[str, type[RoleConfig]] = {
    m.role: m
    for m in (TraderConfig, PipelineConfig, SupervisorConfig, FeedConfig, VenueSimConfig, CanaryConfig)
}


class AgentConfigFile(BaseModel):
    """The file an agent reads at start (``QUANTOPS_CONFIG``): the operator's ConfigMap or the file
    ``quantops up`` writes. ``config`` is the Agent's spec.config; the rest is injected."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=False)

    agent: str | None = None
    role: str | None = None
    strategies: list[str] = Field(default_factory=list)
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    api_loss_grace_seconds: float = Field(default=15.0, gt=0)
    probes: dict[str, Any] | None = None  # operator: the ProbeSpec, for reference only
    config: dict[str, Any] = Field(default_factory=dict)
    strategy_specs: dict[str, dict[str, Any]] | None = None  # quantops up: Strategy specs by name
    risk_policies: dict[str, dict[str, Any]] | None = None  # quantops up: RiskPolicy specs by name
    venues: dict[str, Any] | None = None  # quantops up: venue-sim agents (URLs discovered at runtime)


# -- validation and errors ------------------------------------------------------------------------
class RoleConfigError(ValueError):
    """Every problem of one config, each as (wire path, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))


def known_keys(model: type[BaseModel]) -> list[str]:
    """The wire keys a model takes, in declaration order."""
    return [f.alias or n for n, f in model.model_fields.items()]


def _block_model(annotation: Any) -> type[BaseModel] | None:
    """The block model of a field typed ``Block`` or ``Block | None``."""
    for a in (annotation, *get_args(annotation)):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The block model a location points into (through lists and maps of blocks), else None."""
    current: type[BaseModel] | None = model
    container = 0  # list indexes / map keys still to skip before the next field name
    for part in loc:
        if current is None:
            return None
        if container:
            container -= 1
            continue
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        field = fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        for a in (ann, *get_args(ann)):  # X | None → X
            if get_origin(a) in (list, dict):
                container = 1
        current = _block_model(ann) if not container else _block_model(_inner(ann))
    return None if container else current


def _inner(ann: Any) -> Any:
    """The element type of ``list[X]``/``dict[str, X]`` (also under ``| None``)."""
    for a in (ann, *get_args(ann)):
        if get_origin(a) is list:
            return get_args(a)[0]
        if get_origin(a) is dict:
            return get_args(a)[1]
    return ann


def describe_errors(
    role: str, model: type[BaseModel], e: ValidationError, prefix: str
) -> list[tuple[str, str]]:
    """(wire path, reason) for each error of ``model`` (a role's or a block's); an unknown key's
    reason names the closest known key (difflib), else the keys that block takes."""
    out: list[tuple[str, str]] = []
    for err in e.errors():
        loc = tuple(err["loc"])
        path = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            keys = known_keys(owner) if owner is not None else []
            close = difflib.get_close_matches(str(loc[-1]), keys, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(keys)
            msg = f"unknown key for role {role} ({hint})"
        out.append((path, msg))
    return out


def role_config(role: str, config: Mapping[str, Any] | None, *, prefix: str = "spec.config") -> RoleConfig:
    """``config`` validated with ``role``'s model; :class:`RoleConfigError` names each bad field."""
    model = ROLE_CONFIGS.get(role)
    if model is None:
        raise RoleConfigError(
            [("spec.role", f"unknown role {role!r} (expected one of {', '.join(ROLE_CONFIGS)})")]
        )
    if config is not None and not isinstance(config, Mapping):
        raise RoleConfigError([(prefix, f"must be a mapping, got {type(config).__name__}")])
    try:
        return model.model_validate(dict(config or {}))
    except ValidationError as e:
        raise RoleConfigError(describe_errors(role, model, e, prefix)) from None


# -- the CRD: spec.config's schema and CEL rules -----------------------------------------------------
# CEL sees only typed schema nodes (k8s.io/apiserver cel/common SchemaDeclType: a value without a
# type, like a map of anything, is invisible to rules). So spec.config declares every key of every
# role, typed; an unknown key is pruned by the server (a client asking for strict field validation,
# kubectl's default, is refused with the key named), and a key of another role is refused by the
# role's CEL rule below.
def _bounds(meta: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in meta:
        if isinstance(m, FieldInfo):
            out |= _bounds(list(m.metadata))
        elif isinstance(m, annotated_types.Ge):
            out["minimum"] = m.ge
        elif isinstance(m, annotated_types.Gt):
            out |= {"minimum": m.gt, "exclusiveMinimum": True}
        elif isinstance(m, annotated_types.Le):
            out["maximum"] = m.le
        elif isinstance(m, annotated_types.Lt):
            out |= {"maximum": m.lt, "exclusiveMaximum": True}
        elif isinstance(m, annotated_types.MinLen):
            out["minLength"] = m.min_length
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in out.items()}


_ANY: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}  # any JSON (invisible to CEL)


def _node(ann: Any, meta: list[Any]) -> dict[str, Any]:
    """The structural schema of one annotation (untyped when it takes several JSON types)."""
    origin, args = get_origin(ann), get_args(ann)
    if origin is Annotated:
        return _node(args[0], [*meta, *args[1:]])
    if origin in (Union, UnionType):
        options = [a for a in args if a is not type(None)]
        return _node(options[0], meta) if len(options) == 1 else dict(_ANY)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return _object(ann)
    if origin is Literal:
        return {"type": "string", "enum": list(args)}
    if isinstance(ann, type) and issubclass(ann, Enum):
        return {"type": "string", "enum": [m.value for m in ann]}
    if origin is dict:
        if args[1] is Any:
            return {"type": "object", **_ANY}
        return {"type": "object", "additionalProperties": _node(args[1], [])}
    if origin is list:
        return {"type": "array", "items": _node(args[0], [])}
    simple = {bool: "boolean", int: "integer", float: "number", Decimal: "number", str: "string"}
    if ann in simple:
        return {"type": simple[ann], **_bounds(meta)}
    if ann is dt.datetime:
        return {"type": "string"}
    return dict(_ANY)


def _field_node(field: FieldInfo) -> dict[str, Any]:
    node = _node(field.annotation, list(field.metadata))
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "pattern" in extra and node.get("type") == "string":  # what a field validator checks, for CEL
        node = {**node, "pattern": extra["pattern"]}
        if extra.get("objectName"):
            node["maxLength"] = 253
    return {**node, "description": field.description} if field.description and "type" in node else node


def _object(model: type[BaseModel]) -> dict[str, Any]:
    props = {f.alias or n: _field_node(f) for n, f in model.model_fields.items()}
    required = [f.alias or n for n, f in model.model_fields.items() if f.is_required()]
    return {"type": "object", "properties": props, **({"required": required} if required else {})}


def _union_keys() -> dict[str, dict[str, Any]]:
    """Every key of every role → its schema (the common type when roles disagree on bounds,
    untyped when they disagree on the type)."""
    seen: dict[str, list[dict[str, Any]]] = {}
    for model in ROLE_CONFIGS.values():
        for name, field in model.model_fields.items():
            seen.setdefault(field.alias or name, []).append(_field_node(field))
    out: dict[str, dict[str, Any]] = {}
    for key, nodes in seen.items():
        bare = [{k: v for k, v in n.items() if k != "description"} for n in nodes]
        if all(b == bare[0] for b in bare):
            out[key] = nodes[0] if len(nodes) == 1 else bare[0]  # a description is one role's
        elif len({b.get("type") for b in bare}) == 1 and "type" in bare[0]:
            out[key] = {"type": bare[0]["type"]}
        else:
            out[key] = dict(_ANY)
    return out


def config_schema() -> dict[str, Any]:
    """The structural schema of ``spec.config``: every role's keys, typed where CEL needs it."""
    return {
        "type": "object",
        "description": "Role-specific configuration, rendered into the agent's ConfigMap. The keys "
        "each role takes: quantops_api.v1alpha1.roleconfig; another role's key is refused.",
        "properties": _union_keys(),
    }


def config_rules() -> list[dict[str, str]]:
    """``x-kubernetes-validations`` for AgentSpec: per role, no key of another role in ``config``
    (structural schemas cannot switch on ``role``, CEL can). Untyped keys are invisible to CEL:
    those are checked by the models only (``venue``, ``notionalPerStrategy``)."""
    union = _union_keys()
    rules: list[dict[str, str]] = []
    for role, model in ROLE_CONFIGS.items():
        own = known_keys(model)
        foreign = [k for k, node in union.items() if k not in own and "type" in node]
        if not foreign:
            continue
        present = " || ".join(f"has(self.config.{k})" for k in foreign)
        # concatenated ternaries, not filter/join over a list: the estimated cost stays small
        names = " + ".join(f"(has(self.config.{k}) ? 'spec.config.{k} ' : '')" for k in foreign)
        rules.append(
            {
                "rule": f"self.role != '{role}' || !has(self.config) || !({present})",
                "messageExpression": f"'unknown key for role {role}: ' + {names} + "
                f"'(allowed: {', '.join(own)})'",
                "fieldPath": ".config",
                "reason": "FieldValueInvalid",
            }
        )
    rules.append(
        {
            "rule": "self.role != 'pipeline' || !has(self.config) || !has(self.config.jitterSeconds) || "
            "self.config.jitterSeconds < (has(self.config.intervalSeconds) ? self.config.intervalSeconds : "
            "(has(self.config.intervalMinutes) ? self.config.intervalMinutes : 15.0) * 60.0)",
            "message": "spec.config.jitterSeconds must be below the interval (intervalSeconds, else "
            "intervalMinutes x 60, default 15 min)",
            "fieldPath": ".config.jitterSeconds",
            "reason": "FieldValueInvalid",
        }
    )
    rules.append(
        {
            "rule": "self.role != 'venue-sim' || (has(self.config) && has(self.config.venue))",
            "message": "spec.config.venue: required for role venue-sim (the simulated venue)",
            "reason": "FieldValueRequired",
        }
    )
    rules.append(
        {
            "rule": "!has(self.config) || !(has(self.config.apiKey) || has(self.config.apiSecret))",
            "messageExpression": "(has(self.config.apiKey) ? 'spec.config.apiKey ' : '') + "
            "(has(self.config.apiSecret) ? 'spec.config.apiSecret ' : '') + "
            f"'refused: {KEYS_IN_SPEC}'",
            "fieldPath": ".config",
            "reason": "FieldValueForbidden",
        }
    )
    return rules
