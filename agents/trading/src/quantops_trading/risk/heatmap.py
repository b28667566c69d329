"""Pair concentration heatmap for the dashboard (roadmap 56).

Why it exists: the concentration cap is enforced per order (``ConcentrationRule``), but people need
to *see* where the book is concentrated before the cap bites. :func:`concentration_heatmap` turns
the risk book into a plain data dict (strategies × pairs, each cell the share of the book's
denominator, with the cap and the pairs over it) that the supervisor dashboard serves as JSON;
:func:`render` draws it as a PNG when matplotlib is installed and otherwise writes a self-contained
HTML table with the same colours, so a report is always produced.

What it must not do: enforce anything, or import matplotlib at module import time.
"""

from __future__ import annotations

import html
import importlib.util
from decimal import Decimal
from pathlib import Path
from typing import Any

from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.risk.book import RiskBook

__all__ = ["concentration_heatmap", "render", "render_html"]


def concentration_heatmap(book: RiskBook, policy: RiskPolicySpec) -> dict[str, Any]:
    """Data for the dashboard: ``cells[strategy][pair]`` = share of max(gross, risk budget)."""
    gross = book.gross_exposure()
    base = max(gross, Decimal(str(policy.risk_budget)))
    pairs = sorted({p for _, p in book.holdings})
    strategies = sorted({s for s, _ in book.holdings})
    cells: dict[str, dict[str, float]] = {s: {} for s in strategies}
    for (s, p), h in book.holdings.items():
        notional = abs(h.qty) * book.marks.get(p, h.avg)
        cells[s][p] = float(notional / base) if base > 0 else 0.0
    pair_share = {p: float(book.pair_exposure(p) / base) if base > 0 else 0.0 for p in pairs}
    return {
        "strategies": strategies,
        "pairs": pairs,
        "cells": cells,
        "pair_share": pair_share,
        "cap": policy.concentration_cap,
        "over_cap": sorted(p for p, v in pair_share.items() if v > policy.concentration_cap),
        "gross": float(gross),
        "denominator": float(base),
    }


def _colour(value: float, cap: float) -> str:
    """White → red as the share approaches the cap; dark red above it."""
    if value > cap:
        return "#8b0000"
    x = 0.0 if cap <= 0 else min(1.0, value / cap)
    g = int(255 * (1 - x))
    return f"#ff{g:02x}{g:02x}"


def render_html(data: dict[str, Any]) -> str:
    """A self-contained HTML table (no scripts, escaped names)."""
    pairs: list[str] = data["pairs"]
    cap: float = data["cap"]
    head = "".join(f"<th>{html.escape(p)}</th>" for p in pairs)
    rows = []
    for s in data["strategies"]:
        tds = []
        for p in pairs:
            v = float(data["cells"][s].get(p, 0.0))
            fg = "#fff" if v > cap * 0.6 else "#000"
            tds.append(f'<td style="background:{_colour(v, cap)};color:{fg}">{v:.1%}</td>')
        rows.append(f"<tr><th>{html.escape(s)}</th>{''.join(tds)}</tr>")
    totals = "".join(
        f'<td style="background:{_colour(data["pair_share"][p], cap)}">{data["pair_share"][p]:.1%}</td>'
        for p in pairs
    )
    over = ", ".join(html.escape(p) for p in data["over_cap"]) or "none"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Concentration heatmap</title></head><body>"
        f"<h1>Pair concentration (cap {cap:.0%})</h1><p>Over the cap: {over}</p>"
        f"<table border='1'><tr><th>strategy</th>{head}</tr>{''.join(rows)}"
        f"<tr><th>pair total</th>{totals}</tr></table></body></html>"
    )


def _render_png(data: dict[str, Any], path: Path) -> Path:
    import matplotlib  # optional dependency, imported only when present

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = [[float(data["cells"][s].get(p, 0.0)) for p in data["pairs"]] for s in data["strategies"]]
    fig, ax = plt.subplots(figsize=(1 + len(data["pairs"]), 1 + 0.5 * len(data["strategies"])))
    im = ax.imshow(grid or [[0.0]], cmap="Reds", vmin=0, vmax=max(data["cap"], 1e-9))
    ax.set_xticks(range(len(data["pairs"])), data["pairs"], rotation=45)
    ax.set_yticks(range(len(data["strategies"])), data["strategies"])
    fig.colorbar(im, ax=ax, label="share of book")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def render(data: dict[str, Any], directory: Path) -> Path:
    """Write ``concentration.png`` (matplotlib installed) or ``concentration.html``; return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec("matplotlib") is not None:
        return _render_png(data, directory / "concentration.png")
    out = directory / "concentration.html"
    out.write_text(render_html(data), encoding="utf-8")
    return out
