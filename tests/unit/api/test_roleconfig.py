"""Typed spec.config per role: samples validate, misspelt keys are refused naming the field with a
suggestion, defaults are what the roles used before, and the CRD carries the same key lists."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from quantops_api import Agent, AgentRole, ManifestError, parse_object
from quantops_api.crdgen import crd_for
from quantops_api.v1alpha1.roleconfig import (
    ROLE_CONFIGS,
    AgentConfigFile,
    CanaryConfig,
    PipelineConfig,
    RoleConfigError,
    SupervisorConfig,
    TraderConfig,
    VenueSimConfig,
    config_rules,
    known_keys,
    role_config,
)
from samples import REPO, valid_docs

ROLES = ("trader", "pipeline", "supervisor", "feed", "venue-sim", "canary")


def _agent_docs() -> list[tuple[str, dict[str, Any]]]:
    """Every Agent manifest in the repo's samples and test platforms."""
    files = [
        *sorted((REPO / "crds" / "samples").glob("*.yaml")),
        *sorted((REPO / "tests" / "local").glob("*.yaml")),
        REPO / "helm" / "quantops" / "samples" / "platform.yaml",
    ]
    out = []
    for f in files:
        for d in yaml.safe_load_all(f.read_text()):
            if isinstance(d, dict) and d.get("kind") == "Agent":
                out.append((f"{f.name}:{d['metadata']['name']}", d))
    return out


def test_every_role_of_the_crd_has_a_model() -> None:
    assert set(ROLE_CONFIGS) == set(ROLES)
    assert set(get_args(AgentRole)) == set(ROLE_CONFIGS)  # the CRD's role enum
    from quantops_trading.runtime.roles import ROLES as RUNTIME_ROLES

    assert set(RUNTIME_ROLES) == set(ROLE_CONFIGS)


@pytest.mark.parametrize(("where", "doc"), _agent_docs(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_agent_manifest_validates(where: str, doc: dict[str, Any]) -> None:
    agent = parse_object(doc, where)
    assert isinstance(agent, Agent)
    typed = agent.spec.typed_config()
    assert type(typed) is ROLE_CONFIGS[agent.spec.role]


def test_the_sample_platform_reads_as_typed_configs() -> None:
    agents = {o["metadata"]["name"]: o for _, o in valid_docs() if o["kind"] == "Agent"}
    trader = role_config("trader", agents["trader"]["spec"]["config"])
    assert isinstance(trader, TraderConfig)
    assert trader.order_style == "passive" and trader.paper.maker_fee_bps == Decimal("2")
    assert trader.notional_for("eth-meanrev") == Decimal("0.02") and trader.notional_for("x") == 0
    assert trader.exchange_secret == "demo-trader-keys"  # the keys themselves are never in a spec
    venue = role_config("venue-sim", agents["venue-sim"]["spec"]["config"])
    assert isinstance(venue, VenueSimConfig) and venue.venue is not None and venue.port == 0


@pytest.mark.parametrize(
    ("role", "config", "path", "hint"),
    [
        ("trader", {"pollSecond": 1}, "spec.config.pollSecond", "did you mean 'pollSeconds'?"),
        ("trader", {"health": {"p99LimitSecs": 1}}, "spec.config.health.p99LimitSecs", "'p99LimitSeconds'"),
        ("trader", {"adverseCluster": {"pauseAtt": 2}}, "spec.config.adverseCluster.pauseAtt", "'pauseAt'"),
        ("trader", {"allocator": {"maxShares": 1}}, "spec.config.allocator.maxShares", "'maxShare'"),
        ("trader", {"paper": {"makerFee": 1}}, "spec.config.paper.makerFee", "'makerFeeBps'"),
        ("trader", {"regime": {"rvWindows": 5}}, "spec.config.regime.rvWindows", "'rvWindow'"),
        ("supervisor", {"intervalSeconds": 1}, "spec.config.intervalSeconds", "for role supervisor"),
        ("supervisor", {"alerts": {"dedupSecond": 1}}, "spec.config.alerts.dedupSecond", "'dedupSeconds'"),
        (
            "supervisor",
            {"alerts": {"channels": {"hook": {"type": "webhook", "url": "http://x", "timout": 1}}}},
            "spec.config.alerts.channels.hook.timout",
            "'timeout'",
        ),
        ("pipeline", {"intervalMinute": 5}, "spec.config.intervalMinute", "'intervalMinutes'"),
        ("canary", {"gateScop": "global"}, "spec.config.gateScop", "'gateScope'"),
        ("venue-sim", {"prot": 1}, "spec.config.prot", "'port'"),
        ("feed", {"pollSeconds": 1}, "spec.config.pollSeconds", "known keys: exchangeSecret"),
        ("trader", {"poll_seconds": 1}, "spec.config.poll_seconds", "'pollSeconds'"),  # wire is camelCase
    ],
)
def test_an_unknown_key_is_refused_naming_it_with_a_suggestion(
    role: str, config: dict[str, Any], path: str, hint: str
) -> None:
    with pytest.raises(RoleConfigError) as e:
        role_config(role, config)
    assert f"{path}: unknown key for role {role}" in str(e.value)
    assert hint in str(e.value)
    # the same through the Agent model (quantops validate / quantops up / the operator)
    doc = {"apiVersion": "quantops.dev/v1alpha1", "kind": "Agent", "metadata": {"name": "a"}}
    with pytest.raises(ManifestError) as m:
        parse_object({**doc, "spec": {"role": role, "config": config}}, "x.yaml")
    assert f"x.yaml: Agent/a: {path}: unknown key" in str(m.value)


@pytest.mark.parametrize(
    ("role", "config", "path"),
    [
        ("trader", {"pollSeconds": 0}, "spec.config.pollSeconds"),
        ("trader", {"orderStyle": "lazy"}, "spec.config.orderStyle"),
        ("trader", {"resetLatchedBefore": "yesterday"}, "spec.config.resetLatchedBefore"),
        ("trader", {"notionalPerStrategy": {"a": -1}}, "spec.config.notionalPerStrategy"),
        ("trader", {"regime": {"highVolQuantile": 0.4}}, "spec.config.regime.highVolQuantile"),
        ("canary", {"gateScope": "nowhere"}, "spec.config.gateScope"),
        ("canary", {"failGate": "MAYBE"}, "spec.config.failGate"),
        ("canary", {"recoverAfterPasses": 0}, "spec.config.recoverAfterPasses"),
        ("pipeline", {"intervalSeconds": 10, "jitterSeconds": 30}, "spec.config.jitterSeconds"),
        ("supervisor", {"dashboardPort": 70000}, "spec.config.dashboardPort"),
        ("supervisor", {"alerts": {"channels": {"h": {"type": "webhook"}}}}, "spec.config.alerts.channels.h"),
    ],
)
def test_a_bad_value_is_refused_naming_its_path(role: str, config: dict[str, Any], path: str) -> None:
    with pytest.raises(RoleConfigError, match=re.escape(f"{path}: ")):
        role_config(role, config)


def test_defaults_are_what_the_roles_used_before() -> None:
    t = TraderConfig()
    assert (t.poll_seconds, t.order_style, t.reprice_seconds, t.expected_edge_bps, t.snapshot_seconds) == (
        1.0, "aggressive", 10.0, None, 5.0,
    )  # fmt: skip
    h = t.health
    assert (h.max_dns_failures, h.telemetry_max_age_seconds, h.p99_limit_seconds) == (3, 30.0, 1.0)
    assert (h.retry_attempts, h.retry_base_seconds, h.retry_max_seconds) == (3, 0.05, 1.0)
    assert (h.breaker_failures, h.breaker_cooldown_seconds, h.latency_window, h.latency_min_samples) == (
        5, 5.0, 200, 20,
    )  # fmt: skip
    c = t.adverse_cluster
    assert (c.window_seconds, c.throttle_at, c.pause_at, c.throttle_interval_seconds) == (3600.0, 3, 5, 60.0)
    r = t.regime
    assert (r.window, r.trend_efficiency, r.vol_lookback, r.high_vol_quantile, r.rv_window) == (
        30, 0.3, 720, 0.9, 20,
    )  # fmt: skip
    assert t.allocator is None  # no block: no budget allocation
    from quantops_api.v1alpha1.roleconfig import TraderAllocator

    a = TraderAllocator()
    assert (a.rebalance_seconds, a.min_confidence, a.max_calibration_error, a.min_samples, a.max_share) == (
        60.0, 0.52, 0.25, 50, 0.5,
    )  # fmt: skip
    assert (t.unwind_step_seconds, t.reset_latched_before, t.unwind_aggressive_bps) == (1.0, None, 20)
    assert (t.max_fee_rate, t.price_collar_bps, t.price_collar_confirm_seconds) == (
        Decimal("0.01"), 1000, 60.0,
    )  # fmt: skip
    assert (t.unresolved_grace_seconds, t.reconcile_seconds) == (20.0, 30.0)
    assert (t.max_book_age_seconds, t.min_depth_ratio) == (60.0, 1)
    assert (t.paper.maker_fee_bps, t.paper.taker_fee_bps, t.notional_per_strategy) == (10, 10, 500)
    assert (t.venue_agent, t.venue_url, t.venue_name, t.api_key, t.api_secret, t.cash_currency) == (
        None, None, None, None, None, "USDT",
    )  # fmt: skip
    c2 = CanaryConfig()
    assert (c2.interval_seconds, c2.hop_timeout_seconds, c2.notional_margin, c2.gate_scope) == (
        60.0, 5.0, Decimal("1.2"), "global",
    )  # fmt: skip
    assert (c2.fail_gate.value, c2.recover_after_passes, c2.symbol) == ("PAUSE", 3, "")
    assert (c2.expected_edge_bps, c2.slippage_bps) == (10000.0, 100)
    p = PipelineConfig()
    assert (p.interval, p.interval_seconds, p.jitter_seconds, p.data, p.flags) == (900.0, None, 0.0, {}, {})
    assert PipelineConfig.model_validate({"intervalSeconds": 5}).interval == 5
    s = SupervisorConfig()
    assert (s.dashboard_host, s.dashboard_port, s.poll_seconds, s.snapshot_seconds) == (
        "127.0.0.1",
        0,
        1.0,
        5.0,
    )
    assert (s.audit_report_seconds, s.starvation_threshold, s.ticket_threshold, s.ticket_window_seconds) == (
        3600.0, 5.0, 3, 600.0,
    )  # fmt: skip
    assert (s.alerts.channels, s.alerts.routes, s.alerts.dedup_seconds, s.alerts.per_minute) == (
        None,
        None,
        300,
        20,
    )
    v = VenueSimConfig()
    assert (v.host, v.port, v.venue) == ("127.0.0.1", 0, None)


def test_the_trader_reads_its_config_through_the_model() -> None:
    """TraderWork takes its settings from TraderConfig: a misspelt key is refused at construction,
    named with the closest key, and a typed value arrives typed."""
    from quantops_trading.runtime.trader_role import TraderWork

    with pytest.raises(RoleConfigError, match=r"spec\.config\.reconcileSecond.*reconcileSeconds"):
        TraderWork({"reconcileSecond": 5})
    work = TraderWork(
        {"reconcileSeconds": 5, "health": {"retryAttempts": 4}, "notionalPerStrategy": {"a": 7}}
    )
    assert (work.reconcile_s, work.retry.max_attempts) == (5.0, 4)
    assert work.cfg.notional_per_strategy == {"a": Decimal(7)}


def test_injected_keys_travel_beside_config_not_in_it() -> None:
    """What the operator and `quantops up` add is in the agent's file (AgentConfigFile), so the role
    models never see it; the file's own keys are checked too."""
    AgentConfigFile.model_validate(
        {
            "agent": "t", "role": "trader", "strategies": ["s"], "heartbeatSeconds": 2,
            "apiLossGraceSeconds": 5, "probes": {"port": 8080}, "config": {"pollSeconds": 1},
            "strategySpecs": {"s": {}}, "riskPolicies": {"global": {}}, "venues": {"venue-sim": None},
        }
    )  # fmt: skip
    with pytest.raises(ValueError, match="strategySpec"):
        AgentConfigFile.model_validate({"strategySpec": {}})
    with pytest.raises(RoleConfigError, match=r"spec\.config\.strategySpecs: unknown key"):
        role_config("trader", {"strategySpecs": {}})


def test_the_crd_declares_every_key_and_a_rule_per_role() -> None:
    spec = crd_for(Agent)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    config = spec["properties"]["config"]
    assert "x-kubernetes-preserve-unknown-fields" not in config  # unknown keys are pruned / refused
    declared = set(config["properties"])
    for model in ROLE_CONFIGS.values():
        assert set(known_keys(model)) <= declared
    assert set(config["properties"]["health"]["properties"]) == {
        "maxDnsFailures", "telemetryMaxAgeSeconds", "p99LimitSeconds", "breakerFailures",
        "breakerCooldownSeconds", "retryAttempts", "retryBaseSeconds", "retryMaxSeconds",
        "latencyWindow", "latencyMinSamples", "slowCallSeconds", "degradedClearTicks",
    }  # fmt: skip
    rules = {r["rule"]: r for r in spec["x-kubernetes-validations"]}
    assert [r for r in config_rules() if r["rule"] not in rules] == []
    sup = next(r for r in config_rules() if "self.role != 'supervisor'" in r["rule"])
    assert (
        "has(self.config.intervalMinutes)" in sup["rule"]
        and "has(self.config.pollSeconds)" not in sup["rule"]
    )
    assert sup["fieldPath"] == ".config"
    # the generated YAML is what crdgen writes (kept in step by test_crdgen too)
    text = (REPO / "crds/generated/quantops.dev_agents.yaml").read_text().split("\n", 1)[1]
    assert json.loads(text) == crd_for(Agent)


def test_quantops_validate_refuses_a_misspelt_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from quantops_local.cli import main

    good = (REPO / "crds/samples/platform.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.replace("orderStyle: passive", "orderStyl: passive"))
    assert main(["validate", "-f", str(bad)]) == 2
    err = capsys.readouterr().err
    assert (
        "Agent/trader: spec.config.orderStyl: unknown key for role trader (did you mean 'orderStyle'?)" in err
    )
    # and a key inside a block only the trading library models (the venue simulator's)
    bad.write_text(good.replace("makerFee:", "makerFees:"))
    assert main(["validate", "-f", str(bad)]) == 2
    assert "spec.config.venue.makerFees: unknown key for role venue-sim (did you mean 'makerFee'?)" in (
        capsys.readouterr().err
    )
    good_file = tmp_path / "good.yaml"
    good_file.write_text(good)
    assert main(["validate", "-f", str(good_file)]) == 0
