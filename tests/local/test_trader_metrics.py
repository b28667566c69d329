"""The trader's /metrics on the kernel: what the chart's Grafana dashboard plots is served, and the
values are the trader's own state (P&L, exposure, gates, kill switches, order counts, latency)."""

from __future__ import annotations

import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from controlplane import build_binaries
from kernel_support import Kernel, kernel
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from trader_support import SYMBOL

from quantops_api import Gate
from quantops_trading.paths import repo_root

DASHBOARD = repo_root() / "helm/quantops/dashboards/quantops-agents.json"


def plotted_metrics() -> set[str]:
    """Every metric name a dashboard query reads (suffixes of histograms and counters stripped)."""
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    names = {n for e in exprs for n in re.findall(r"\b(quantops_[a-z_]+)\{", e)}  # a selector, not a label
    names |= {n for e in exprs for n in re.findall(r"label_values\((quantops_[a-z_]+)", e)}
    return {re.sub(r"_(bucket|count|sum|total)$", "", n) for n in names}


async def _trade(k: Kernel, fills: int) -> None:
    for _ in range(400):
        if k.work.counts["filled"] >= fills:
            return
        await k.tick()
    raise AssertionError(f"{fills} fills not within 400 ticks")


async def test_every_metric_the_dashboard_plots_is_served_with_the_traders_own_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with kernel(tmp_path, monkeypatch) as k:
        await _trade(k, fills=2)
        text = generate_latest(k.rt.registry).decode()
        gw = k.work.gateway
        assert gw is not None
        pnl, exposure = gw.book.pnl("momo"), k.position * gw.book.mark(SYMBOL)
        counts = dict(k.work.counts)
        fees_booked = k.work.stats["momo"].fees
    families = {f.name: f for f in text_string_to_metric_families(text)}
    plotted = plotted_metrics()
    assert len(plotted) >= 10, plotted
    missing = plotted - set(families)
    assert not missing, f"the dashboard plots metrics no agent serves: {sorted(missing)}"
    assert counts["filled"] >= 2 and counts["submitted"] >= 2

    def value(family: str, sample: str, **labels: str) -> float:
        found = [s.value for s in families[family].samples if s.name == sample and s.labels == labels]
        assert len(found) == 1, (family, labels, families[family].samples)
        return found[0]

    assert value("quantops_trader_strategy_pnl", "quantops_trader_strategy_pnl", strategy="momo") == float(
        pnl
    )
    assert Decimal(
        str(
            value(
                "quantops_trader_strategy_exposure",
                "quantops_trader_strategy_exposure",
                strategy="momo",
                pair=SYMBOL,
            )
        )
    ) == Decimal(str(float(exposure)))
    fills = value("quantops_trader_strategy_fills", "quantops_trader_strategy_fills_total", strategy="momo")
    assert fills == counts["filled"]
    fees = value("quantops_trader_strategy_fees", "quantops_trader_strategy_fees_total", strategy="momo")
    assert fees == float(fees_booked) > 0
    for outcome in ("submitted", "filled"):
        assert (
            value("quantops_trader_orders", "quantops_trader_orders_total", outcome=outcome)
            == counts[outcome]
        )
    gate = "quantops_trader_scope_gate"
    assert (
        value(gate, gate, scope="global", gate="GO") == 1
        and value(gate, gate, scope="global", gate="STOP") == 0
    )
    submits = value(
        "quantops_venue_request_seconds", "quantops_venue_request_seconds_count", venue="sim", op="submit"
    )
    assert submits == counts["submitted"]
    assert value("quantops_trader_book_age_seconds", "quantops_trader_book_age_seconds", pair=SYMBOL) >= 0


async def test_a_kill_switch_shows_on_metrics_with_the_gate_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with kernel(tmp_path, monkeypatch) as k:
        await k.tick()
        assert k.work.gateway is not None
        k.work.gateway.set_gate(f"pair/{SYMBOL}", Gate.PAUSE, actor="test", reason="a person's pause")
        text = generate_latest(k.rt.registry).decode()
    lines = [ln for ln in text.splitlines() if ln.startswith("quantops_trader_kill_switch{")]
    assert lines == [
        f'quantops_trader_kill_switch{{gate="PAUSE",scope="pair/{SYMBOL}",switch="manual"}} 1.0'
    ], lines
    assert f'quantops_trader_scope_gate{{gate="PAUSE",scope="pair/{SYMBOL}"}} 1.0' in text


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    promtool = build_binaries() / "promtool"
    return subprocess.run([str(promtool), "check", "metrics"], input=text, capture_output=True, text=True)


async def test_promtool_check_metrics_passes_on_the_traders_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prometheus's own linter (`promtool check metrics`, built from its Go module with the
    control plane) accepts every metric a trader agent serves — its runtime's and the trader's,
    after it traded, so every family has samples."""
    async with kernel(tmp_path, monkeypatch) as k:
        await _trade(k, fills=1)
        text = generate_latest(k.rt.registry).decode()
    assert "quantops_venue_request_seconds_bucket" in text and "quantops_agent_heartbeats_total" in text
    res = promtool_check_metrics(text)
    assert res.returncode == 0, res.stdout + res.stderr
