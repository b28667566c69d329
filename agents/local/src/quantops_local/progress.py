"""What `quantops up` shows while it runs: progress bars for the slow parts, and where to look.

Why it exists: a newcomer's first run waits on things that take seconds to minutes — the venue
simulator loading real market data, strategies warming up, the pipeline's backtests, the run
itself under ``--duration`` — and must not stare at a silent terminal. :func:`watch` polls the
local supervisor's in-memory state (no extra HTTP for the supervisor) and each agent's ``/status``
(its role's own facts), and drives one rich progress task per slow thing:

- ``start <agent>`` — done when the agent is Ready (for venue-sim: "loading market data");
- ``warm-up <trader>`` — done when the trader reports ``state: trading`` and has sent an order or
  its strategies emitted a signal (shown as counts);
- ``backtests <pipeline>`` — the pipeline agent's first cycle (backtests, evaluation, promotion),
  or ``backtests: {done, total}`` when its /status reports that;
- ``run`` — elapsed of ``--duration``.

It prints the dashboard URL once the supervisor agent reports it, and each new audit record as a
readable line (``terminal.human_line``; not with ``--json``). Output goes to stderr, so with
``--json`` stdout stays the JSON audit stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from quantops_local.supervisor import Supervisor
from quantops_local.terminal import AuditFollower

__all__ = ["watch"]


async def _agent_status(http: aiohttp.ClientSession, port: int) -> dict[str, Any]:
    if not port:
        return {}
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
        async with http.get(f"http://127.0.0.1:{port}/status") as r:
            return dict(await r.json())
    return {}


async def watch(
    sup: Supervisor,
    duration: float | None,
    console: Console,
    enabled: bool = True,
    follow: AuditFollower | None = None,
) -> None:
    """Run until ``sup.stopping`` is set (the caller cancels it when the supervisor returns);
    with ``follow``, print each new audit record as a readable line above the bars."""

    def echo() -> None:
        for line in follow.lines() if follow is not None else ():
            console.print(line, markup=False, highlight=False, soft_wrap=True)

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    start_tasks: dict[str, TaskID] = {}
    warm_tasks: dict[str, TaskID] = {}
    backtests: TaskID | None = None
    run_task = progress.add_task("run", total=duration or None, note="until Ctrl-C" if not duration else "")
    for name, p in sup.procs.items():
        note = "loading market data" if p.agent.spec.role == "venue-sim" else p.agent.spec.role
        start_tasks[name] = progress.add_task(f"start {name}", total=1, note=note)
        if p.agent.spec.role == "trader":
            warm_tasks[name] = progress.add_task(f"warm-up {name}", total=1, note="waiting")
    dashboard_shown = False
    warmed: set[str] = set()
    started: set[str] = set()
    piped: set[str] = set()
    t0 = time.monotonic()
    with progress:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while not sup.stopping.is_set():
                progress.update(run_task, completed=time.monotonic() - t0)
                for name, p in sup.procs.items():
                    if not p.ready and name in started:
                        progress.update(start_tasks[name], note=p.phase)  # restarted: keep the bar full
                        continue
                    progress.update(start_tasks[name], completed=1 if p.ready else 0, note=p.phase)
                    if p.ready:
                        started.add(name)
                    if not p.ready:
                        continue
                    role = p.agent.spec.role
                    if role == "supervisor" and not dashboard_shown:
                        url = (await _agent_status(http, p.port)).get("work", {}).get("dashboardUrl")
                        if url:
                            console.print(f"[bold green]Dashboard:[/] {url}")
                            sup.audit("DashboardAvailable", agent=name, url=url)
                            dashboard_shown = True
                    elif role == "trader" and name in warm_tasks and name not in warmed:
                        work = (await _agent_status(http, p.port)).get("work", {})
                        orders = work.get("orders") or {}
                        sent = int(orders.get("submitted", 0)) + int(orders.get("denied", 0))
                        warm = work.get("state") == "trading" and sent > 0
                        if warm:
                            warmed.add(name)  # sticky: later polls (or a stopping trader) do not undo it
                        progress.update(
                            warm_tasks[name],
                            completed=1 if warm else 0,
                            note=f"{work.get('state', '?')}; decisions {sent}",
                        )
                    elif role == "pipeline" and name not in piped:
                        work = (await _agent_status(http, p.port)).get("work", {})
                        bt = work.get("backtests")
                        if backtests is None and ("cycles" in work or isinstance(bt, dict)):
                            backtests = progress.add_task(f"backtests {name}", total=1, note="")
                        if backtests is not None and isinstance(bt, dict) and bt.get("total"):
                            progress.update(backtests, total=bt["total"], completed=bt.get("done", 0))
                        elif backtests is not None and "cycles" in work:  # first pipeline cycle done
                            cycles = int(work.get("cycles") or 0)
                            progress.update(backtests, completed=min(cycles, 1), note=str(work.get("state")))
                            if cycles:
                                piped.add(name)
                echo()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(sup.stopping.wait(), 0.5)
