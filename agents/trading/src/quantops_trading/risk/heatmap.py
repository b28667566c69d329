"""Pair concentration heatmap for the dashboard (roadmap 56).

Why it exists: the concentration cap is enforced per order (``ConcentrationRule``), but people need
to *see* where the book is concentrated before the cap bites. :func:`concentration_heatmap` turns
the risk book into a plain data dict (strategies × pairs, each cell the share of the book's
denominator, with the cap and the pairs over it) that the supervisor dashboard serves as JSON;
:func:`render_png` draws it as a PNG (matplotlib, Agg backend); :func:`render` writes that PNG when
matplotlib is installed and otherwise a self-contained HTML table with the same colours, so a
report is always produced.

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

__all__ = ["OVER_CAP", "concentration_heatmap", "render", "render_html", "render_png"]

OVER_CAP = "#3b0000"
"""Colour of a cell over the concentration cap (PNG render)."""


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


def render_png(data: dict[str, Any], path: Path, *, dpi: int = 100) -> dict[str, tuple[int, int]]:
    """Draw the heatmap with matplotlib's Agg backend; returns each cell's centre in pixels.

    Cells are coloured by ``share / cap`` on the ``Reds`` colormap; a cell over the cap is drawn
    in :data:`OVER_CAP` so a breach never looks like "almost at the cap". The returned
    ``{"strategy|pair": (x, y)}`` (x from the left, y from the top of the image) lets a reader (or
    a test) sample exactly the pixel of a cell.
    """
    import matplotlib  # imported lazily: the module must load without it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    pairs: list[str] = data["pairs"]
    strategies: list[str] = data["strategies"]
    cap = max(float(data["cap"]), 1e-9)
    grid = [[float(data["cells"][s].get(p, 0.0)) for p in pairs] for s in strategies] or [[0.0]]
    cmap = matplotlib.colormaps["Reds"].with_extremes(over=OVER_CAP)
    fig, ax = plt.subplots(figsize=(2 + 1.2 * max(len(pairs), 1), 1.5 + 0.6 * max(len(strategies), 1)))
    im = ax.imshow(grid, cmap=cmap, norm=Normalize(vmin=0.0, vmax=cap), aspect="auto")
    ax.set_xticks(range(len(pairs)), pairs, rotation=45, ha="right")
    ax.set_yticks(range(len(strategies)), strategies)
    ax.set_title(f"pair concentration (cap {cap:.0%}); over cap: {', '.join(data['over_cap']) or 'none'}")
    fig.colorbar(im, ax=ax, label="share of book", extend="max")
    fig.tight_layout()
    fig.canvas.draw()
    height = fig.get_size_inches()[1] * dpi
    scale = dpi / fig.dpi
    centres: dict[str, tuple[int, int]] = {}
    for i, s in enumerate(strategies):
        for j, p in enumerate(pairs):
            x, y = ax.transData.transform((j, i))
            centres[f"{s}|{p}"] = (int(float(x) * scale + 0.5), int(float(height - y * scale) + 0.5))
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return centres


def render(data: dict[str, Any], directory: Path) -> Path:
    """Write ``concentration.png`` (matplotlib installed) or ``concentration.html``; return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec("matplotlib") is not None:
        out_png = directory / "concentration.png"
        render_png(data, out_png)
        return out_png
    out = directory / "concentration.html"
    out.write_text(render_html(data), encoding="utf-8")
    return out
