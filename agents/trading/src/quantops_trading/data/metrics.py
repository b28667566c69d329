"""Prometheus metrics of the data layer (quarantine counts, freshness, gaps, outliers).

Why it exists: a silently dropped row or a stale feed must be visible on a dashboard. Every data
component takes an optional ``CollectorRegistry``; by default they share the module-level
:data:`REGISTRY` (which an agent exposes on /metrics). Tests pass their own registry and read the
counters back, so the metrics are proven, not just declared.

What it must not do: start an HTTP server (telemetry owns that).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["REGISTRY", "DataMetrics", "data_metrics"]

REGISTRY = CollectorRegistry(auto_describe=True)
"""The data layer's default registry (an agent merges it into its /metrics endpoint)."""


class DataMetrics:
    """The data layer's metric families, registered once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.rows_in = Counter(
            "quantops_data_rows_total", "Rows received by schema checks.", ["feed"], registry=registry
        )
        self.rows_quarantined = Counter(
            "quantops_data_quarantined_rows_total",
            "Rows refused by schema/quality checks, by reason.",
            ["feed", "reason"],
            registry=registry,
        )
        self.duplicates = Counter(
            "quantops_data_duplicates_total", "Rows collapsed by de-duplication.", ["feed"], registry=registry
        )
        self.filled_bars = Counter(
            "quantops_data_filled_bars_total", "Bars synthesised by gap filling.", ["feed"], registry=registry
        )
        self.gaps = Counter(
            "quantops_data_gaps_total",
            "Gaps found, by feed and criticality.",
            ["feed", "critical"],
            registry=registry,
        )
        self.outliers = Counter(
            "quantops_data_outliers_total",
            "Price jumps classified, by verdict.",
            ["feed", "verdict"],
            registry=registry,
        )
        self.freshness_age = Gauge(
            "quantops_data_age_seconds", "Age of the newest data per source.", ["source"], registry=registry
        )
        self.freshness_breaches = Counter(
            "quantops_data_freshness_breaches_total",
            "Transitions into SLA breach.",
            ["source"],
            registry=registry,
        )
        self.no_go = Gauge(
            "quantops_data_no_go",
            "1 when trading on the source is NO_GO (stale).",
            ["source"],
            registry=registry,
        )


_BY_REGISTRY: dict[int, DataMetrics] = {}


def data_metrics(registry: CollectorRegistry | None = None) -> DataMetrics:
    """The :class:`DataMetrics` of ``registry`` (default :data:`REGISTRY`), created on first use."""
    reg = REGISTRY if registry is None else registry
    found = _BY_REGISTRY.get(id(reg))
    if found is None or found.registry is not reg:
        found = DataMetrics(reg)
        _BY_REGISTRY[id(reg)] = found
    return found
