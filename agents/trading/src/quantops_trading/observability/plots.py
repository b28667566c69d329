"""The postmortem's charts, drawn with matplotlib (Agg, no display) as PNG bytes.

Why it exists (roadmap 100): a chart someone reads the morning after needs a title, a time axis,
labelled bars and a legend — text the numpy-only :mod:`charts` cannot draw. Each function takes
plain lists (already filtered to one day by :mod:`postmortem`) and returns one PNG; an empty input
still yields a valid chart that says "no data" rather than failing the whole report.
Bar colours: green (44, 160, 44) for gains/successes, red (214, 39, 40) for losses/failures.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["GREEN", "RED", "attribution_chart", "decisions_chart", "gates_chart", "series_chart"]

GREEN, RED = "#2ca02c", "#d62728"
SIZE = (8.0, 3.2)
DPI = 80  # 640 × 256 pixels


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def _times(ts: Sequence[float]) -> list[float]:
    """Epoch seconds → matplotlib date numbers (days since 1970-01-01 UTC)."""
    return [t / 86400.0 for t in ts]  # matplotlib's default date epoch is 1970-01-01


def _time_axis(ax: Axes) -> None:
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=dt.UTC))  # type: ignore[no-untyped-call]
    ax.set_xlabel("time (UTC)")


def _empty(ax: Axes, text: str = "no data for this day") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def series_chart(
    title: str, series: Mapping[str, Sequence[tuple[float, float]]], ylabel: str, fill: bool = False
) -> bytes:
    """One line per series of (epoch seconds, value) points against UTC time."""
    fig, ax = plt.subplots(figsize=SIZE)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    drawn = False
    for name, pts in series.items():
        if not pts:
            continue
        xs, ys = _times([t for t, _ in pts]), [v for _, v in pts]
        ax.plot(xs, ys, label=name, drawstyle="steps-post", linewidth=1.8)
        if fill:
            ax.fill_between(xs, ys, 0, step="post", color=RED, alpha=0.3)
        drawn = True
    if drawn:
        ax.axhline(0, color="#555555", linewidth=0.8)
        _time_axis(ax)
        ax.legend(loc="best", fontsize="small")
        ax.grid(alpha=0.3)
    else:
        _empty(ax)
    return _png(fig)


def decisions_chart(ok_per_hour: Sequence[int], failed_per_hour: Sequence[int]) -> bytes:
    """Successful (green) and failed (red) decisions per UTC hour, stacked."""
    fig, ax = plt.subplots(figsize=SIZE)
    hours = list(range(24))
    ax.bar(hours, ok_per_hour, color=GREEN, label="successful")
    ax.bar(hours, failed_per_hour, bottom=ok_per_hour, color=RED, label="failed")
    ax.set_title("Decisions per UTC hour")
    ax.set_xlabel("hour (UTC)")
    ax.set_ylabel("decisions")
    ax.set_xticks(hours[::2])
    ax.legend(loc="best", fontsize="small")
    if not any(ok_per_hour) and not any(failed_per_hour):
        _empty(ax)
    return _png(fig)


def attribution_chart(pnl_by_strategy: Mapping[str, float]) -> bytes:
    """One labelled bar per strategy: green for a gain, red for a loss."""
    fig, ax = plt.subplots(figsize=SIZE)
    ax.set_title("PnL attribution by strategy")
    ax.set_ylabel("PnL (quote currency)")
    if pnl_by_strategy:
        names, vals = list(pnl_by_strategy), list(pnl_by_strategy.values())
        ax.bar(names, vals, color=[GREEN if v >= 0 else RED for v in vals])
        ax.axhline(0, color="#555555", linewidth=0.8)
        for i, v in enumerate(vals):
            ax.annotate(f"{v:+.2f}", (i, v), ha="center", va="bottom" if v >= 0 else "top", fontsize="small")
    else:
        _empty(ax, "no fills this day")
    return _png(fig)


def gates_chart(changes: Sequence[Mapping[str, object]]) -> bytes:
    """Gate changes on a timeline: one row per scope, each change a marker coloured by the new gate."""
    colours = {"GO": GREEN, "CHECK": "#1f77b4", "PAUSE": "#ff7f0e", "STOP": RED}
    fig, ax = plt.subplots(figsize=SIZE)
    ax.set_title("Gate changes")
    scopes = sorted({str(c["scope"]) for c in changes})
    for c in changes:
        at = c["at"]
        x = _times([float(at) if isinstance(at, int | float) else 0.0])[0]
        new = str(c["new"])
        ax.scatter([x], [scopes.index(str(c["scope"]))], color=colours.get(new, "#555555"), s=60, zorder=3)
        ax.annotate(new, (x, scopes.index(str(c["scope"]))), xytext=(4, 4), textcoords="offset points")
    if scopes:
        ax.set_yticks(range(len(scopes)), scopes)
        ax.set_ylim(-0.7, len(scopes) - 0.3)
        _time_axis(ax)
        ax.grid(alpha=0.3)
    else:
        _empty(ax, "no gate changes this day")
    return _png(fig)
