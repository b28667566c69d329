"""The trader's service-level metrics on its agent's ``/metrics``, read from its state at scrape,
and its per-strategy trading statistics (``/status``, the dashboard).

Why it exists: an operator running many strategies watches them in Prometheus and Grafana, not in
each pod's ``/status``; the chart's dashboard (``helm/quantops/dashboards``) plots exactly these
names, and a test checks that every name it plots is served. Values are read when scraped (a
custom collector), so nothing in the trading loop updates a metric and nothing can drift from the
state the trader decides on. The submit→ack latency histogram is
``quantops_venue_request_seconds{op="submit"}`` (``execution.latency``), observed by the venue client.

What it must not do: change state, or expose anything secret (names and numbers only).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from quantops_api import Gate

if TYPE_CHECKING:
    from quantops_trading.runtime.trader_role import TraderWork

__all__ = ["StrategyStats", "TraderCollector"]


@dataclass(slots=True)
class StrategyStats:
    """One strategy's trading since the trader started: orders sent, fills, volume and fees in
    the quote currency (a fee in the base asset at its fill price), closing fills and winners."""

    orders: int = 0
    fills: int = 0
    volume: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    closes: int = 0
    wins: int = 0

    def filled(self, qty: Decimal, price: Decimal, fee: Decimal, *, in_base: bool) -> None:
        self.fills += 1
        self.volume += qty * price
        self.fees += fee * price if in_base else fee

    def closed(self, *, won: bool) -> None:
        self.closes += 1
        self.wins += won

    def describe(self) -> dict[str, Any]:
        rate = None if not self.closes else round(self.wins / self.closes, 4)
        return {
            "orders": self.orders,
            "fills": self.fills,
            "volume": str(self.volume),
            "fees": str(self.fees),
        } | {
            "closes": self.closes,
            "hitRate": rate,
        }


class TraderCollector(Collector):
    """Gates per scope, kill switches, P&L, exposure, fills and fees per strategy, book age per
    pair, order counts."""

    def __init__(self, work: TraderWork) -> None:
        self.work = work

    def collect(self) -> Iterator[Metric]:
        w, gw = self.work, self.work.gateway
        orders = CounterMetricFamily(
            "quantops_trader_orders", "Order decisions by outcome since start", labels=["outcome"]
        )
        for outcome, n in sorted(w.counts.items()):
            orders.add_metric([outcome], n)
        yield orders
        if gw is None:
            return
        pairs = sorted({p for s in w.specs.values() for p in s.pairs})
        scopes = ["global", f"venue/{w.venue}", *(f"strategy/{n}" for n in sorted(w.specs))]
        scopes += [f"pair/{p}" for p in pairs]
        gate = GaugeMetricFamily(
            "quantops_trader_scope_gate",
            "1 for the effective gate of each risk scope",
            labels=["scope", "gate"],
        )
        for scope in scopes:
            now = gw.scope_gate(scope)
            for g in Gate:
                gate.add_metric([scope, g.value], 1.0 if g is now else 0.0)
        yield gate
        switch = GaugeMetricFamily(
            "quantops_trader_kill_switch",
            "1 for each kill switch set, by scope and switch, labelled with the gate it holds",
            labels=["scope", "switch", "gate"],
        )
        for scope in gw.switch_scopes():
            for name, g in sorted(gw.switches(scope).items()):
                switch.add_metric([scope, name, g.value], 1.0)
        yield switch
        book = gw.book
        pnl = GaugeMetricFamily(
            "quantops_trader_strategy_pnl",
            "Realised and marked P&L per strategy (quote currency)",
            labels=["strategy"],
        )
        exposure = GaugeMetricFamily(
            "quantops_trader_strategy_exposure",
            "Signed position × mark per strategy and pair (quote currency)",
            labels=["strategy", "pair"],
        )
        fills = CounterMetricFamily(
            "quantops_trader_strategy_fills", "Fills booked per strategy", labels=["strategy"]
        )
        fees = CounterMetricFamily(
            "quantops_trader_strategy_fees", "Fees paid per strategy (quote currency)", labels=["strategy"]
        )
        for name in sorted(w.specs):
            pnl.add_metric([name], float(book.pnl(name)))
            fills.add_metric([name], w.stats[name].fills)
            fees.add_metric([name], float(w.stats[name].fees))
        yield fills
        yield fees
        for (name, pair), h in sorted(book.holdings.items()):
            exposure.add_metric([name, pair], float(h.qty * book.mark(pair)))
        yield pnl
        yield exposure
        age = GaugeMetricFamily(
            "quantops_trader_book_age_seconds", "Seconds since each pair's book last moved", labels=["pair"]
        )
        if w.health is not None:
            for pair in pairs:
                a = w.health.book_age(pair)
                if a is not None:
                    age.add_metric([pair], a)
        yield age
