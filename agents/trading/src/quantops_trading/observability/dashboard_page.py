"""The dashboard page: one self-contained HTML document (inline CSS and JS, no CDN).

Why a module of its own: the markup and script are data, kept apart from the server logic in
:mod:`dashboard`. The script polls ``/api/dashboard`` every second and re-renders each panel in
place (no reload); P&L, drawdown and heartbeat history are uPlot charts (vendored from npm into
``static/uplot``, served by the dashboard itself: no CDN) with a UTC time axis, labelled value
axes with units, a hover legend and the latest values printed under each; the concentration
heatmap is a coloured table; every inserted value is escaped. Element ids (``agents``, ``gates``,
``gate-history``, ``strategies``, ``risk``, ``pnl``, ``positions``, ``orders``, ``fills``,
``stats``, ``venue``, ``freshness``, ``alerts``, ``history``, ``updated``) are stable for tests and scrapers;
``window.qpCharts`` holds the chart instances.
"""

# ruff: noqa: E501  (the page is data: JavaScript lines are kept whole for readability)
from __future__ import annotations

__all__ = ["PAGE"]

PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quantops — status</title>
<link rel="stylesheet" href="static/uPlot.min.css"><script src="static/uPlot.iife.min.js"></script>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#222}
header{background:#1d2433;color:#fff;padding:8px 16px;display:flex;justify-content:space-between}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px;padding:12px}
section{background:#fff;border-radius:6px;padding:8px 12px;box-shadow:0 1px 2px #0002;overflow:auto}
h2{font-size:15px;margin:4px 0 8px}table{border-collapse:collapse;width:100%;font-size:13px}
td,th{padding:3px 6px;border-bottom:1px solid #eee;text-align:left}
.GO{color:#1a7f37;font-weight:600}.CHECK{color:#9a6700;font-weight:600}
.PAUSE{color:#bc4c00;font-weight:600}.STOP{color:#cf222e;font-weight:700}
.NO_GO{color:#cf222e;font-weight:700}.muted{color:#888}.err{color:#cf222e}
.num{text-align:right;font-variant-numeric:tabular-nums}.buy{color:#1a7f37}.sell{color:#cf222e}
.latest{font-size:13px;margin:2px 0 10px}.wide{grid-column:1/-1}
</style></head>
<body>
<header><b>quantops — single pane</b><span id="updated" class="muted">loading…</span></header>
<main>
<section><h2>Agents</h2><div id="agents"></div></section>
<section><h2>Gates</h2><div id="gates"></div><h2>Gate history</h2><div id="gate-history"></div></section>
<section><h2>Strategies and stages</h2><div id="strategies"></div><div id="stages"></div></section>
<section><h2>Risk utilisation</h2><div id="risk"></div></section>
<section><h2>P&amp;L and drawdown</h2><div id="pnl"><div id="pnl-chart"></div><div id="pnl-latest" class="latest"></div><div id="dd-chart"></div><div id="dd-latest" class="latest"></div></div></section>
<section><h2>Positions</h2><div id="positions"></div><h2>Open orders</h2><div id="orders"></div></section>
<section class="wide"><h2>Last fills</h2><div id="fills"></div></section>
<section><h2>Strategy statistics</h2><div id="stats"></div></section>
<section class="wide"><h2>Venue health and latency</h2><div id="venue"></div></section>
<section><h2>Data freshness</h2><div id="freshness"></div></section>
<section><h2>Recent alerts</h2><div id="alerts"></div><h2>Open incidents</h2><div id="tickets"></div></section>
<section><h2>Heartbeat history (5 s snapshots)</h2><div id="history"><div id="history-chart"></div><div id="history-latest" class="latest"></div></div></section>
</main>
<script>
"use strict";
const esc = v => String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g,
  c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const t = s => s ? new Date(s * 1000).toISOString().slice(11, 19) : "";
const gate = g => `<span class="${esc(g)}">${esc(g)}</span>`;
function table(cols, rows) {
  if (!rows.length) return '<p class="muted">none</p>';
  return "<table><tr>" + cols.map(c => `<th>${esc(c)}</th>`).join("") + "</tr>" +
    rows.map(r => "<tr>" + r.map(c => `<td>${c}</td>`).join("") + "</tr>").join("") + "</table>";
}
const COLOURS = ["#1f77b4","#d62728","#2ca02c","#ff7f0e","#9467bd","#8c564b","#e377c2"];
window.qpCharts = {};
const num = (v, d) => (v === null || v === undefined || v === "" || isNaN(Number(v))) ? "" : Number(v).toLocaleString("en-US", {minimumFractionDigits: d, maximumFractionDigits: d});
const signed = (v, d) => { const x = Number(v), z = Math.abs(x) < 0.5 * Math.pow(10, -d); return (z ? "" : x > 0 ? "+" : "") + num(z ? 0 : x, d); };
const hms = ts => new Date(ts * 1000).toISOString().slice(11, 19);
/* One uPlot chart per id: series {name: [[t, v], …]} on a UTC time axis, the y axis labelled with
   its unit; redrawn in place (setData) while the series stay the same. */
function chart(id, series, unit, digits) {
  const names = Object.keys(series), el = document.getElementById(id + "-chart");
  const latest = document.getElementById(id + "-latest");
  if (!names.length || !Object.values(series).some(s => s.length)) {
    el.innerHTML = '<p class="muted">no data yet</p>'; latest.textContent = "";
    if (window.qpCharts[id]) { window.qpCharts[id].destroy(); delete window.qpCharts[id]; }
    return;
  }
  const xs = [...new Set(Object.values(series).flat().map(p => p[0]))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const data = [xs].concat(names.map(n => { const ys = new Array(xs.length).fill(null); series[n].forEach(p => { ys[at.get(p[0])] = p[1]; }); return ys; }));
  let u = window.qpCharts[id];
  if (u && u.qpNames === names.join("\u0000")) { u.setData(data); }
  else {
    if (u) u.destroy();
    el.innerHTML = "";
    const fmt = v => v === null ? "--" : num(v, digits) + " " + unit;
    u = new uPlot({
      width: Math.max(360, el.clientWidth || 440), height: 180,
      tzDate: ts => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      scales: {x: {time: true}},
      series: [{label: "time (UTC)", value: (self, v) => v === null ? "--" : hms(v)}].concat(names.map((n, i) => ({label: n, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true, value: (self, v) => fmt(v)}))),
      axes: [{label: "time (UTC)", labelSize: 16, space: 70, incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400], values: (self, ticks) => ticks.map(hms)}, {label: unit, labelSize: 16, size: 70, values: (self, ticks) => ticks.map(v => num(v, digits))}],
    }, data, el);
    u.qpNames = names.join("\u0000");
    window.qpCharts[id] = u;
  }
  latest.innerHTML = "latest: " + names.map((n, i) => { const s = series[n]; const v = s.length ? s[s.length - 1][1] : null;
    return `<span style="color:${COLOURS[i % COLOURS.length]}">■</span> ${esc(n)} <b class="num">${esc(v === null ? "--" : signed(v, digits))}</b> ${esc(unit)}`; }).join(" · ");
}
function heat(hm) {
  if (!hm || !hm.pairs) return '<p class="muted">no concentration data yet</p>';
  const cap = hm.cap || 1;
  const cell = v => { const a = Math.min(1, v / cap); return `<span style="display:block;background:rgba(207,34,46,${a.toFixed(2)});color:${a > .6 ? "#fff" : "#000"}">${(v * 100).toFixed(1)}%</span>`; };
  return table(["strategy"].concat(hm.pairs), hm.strategies.map(s => [esc(s)].concat(hm.pairs.map(p => cell((hm.cells[s] || {})[p] || 0)))));
}
function render(d) {
  document.getElementById("updated").innerHTML = d.statusError
    ? `<span class="err">supervisor unreachable: ${esc(d.statusError)}</span>` : "updated " + esc(t(d.generatedAt));
  document.getElementById("agents").innerHTML = table(
    ["agent", "role", "phase", "ready", "gate", "restarts", "queue", "orders", "reason"],
    d.agents.map(a => [`<b data-agent="${esc(a.name)}">${esc(a.name)}</b>`, esc(a.role), esc(a.phase), esc(a.ready),
      gate(a.effectiveGate) + ` <span class="muted">${esc(a.gateSource)}</span>`, esc(a.restarts), esc(a.queueLength),
      esc(a.openOrders), esc(a.reason) + (a.message ? `: <span class="muted">${esc(a.message)}</span>` : "")]));
  document.getElementById("gates").innerHTML = table(["scope", "gate"],
    Object.entries(d.gates).sort().map(([k, v]) => [esc(k), gate(v)]));
  document.getElementById("gate-history").innerHTML = table(["time", "scope", "change", "reason", "who"],
    d.gateHistory.map(g => [esc(t(g.at)), esc(g.scope), gate(g.old) + " → " + gate(g.new), esc(g.reason), esc(g.who)]));
  document.getElementById("strategies").innerHTML = table(["strategy", "stage", "desired", "gate", "version", "params"],
    d.strategies.map(s => [esc(s.name), `<b>${esc(s.stage)}</b>`, esc(s.desiredStage), gate(s.gate),
      esc(s.version) + ` <span class="muted">${esc(s.fingerprint)}</span>`, `<code>${esc(JSON.stringify(s.params))}</code>`]));
  document.getElementById("stages").innerHTML = "<h2>Stage transitions</h2>" + table(["time", "strategy", "change", "reason"],
    d.stageTransitions.map(s => [esc(t(s.at)), esc(s.strategy), esc(s.old) + " → " + esc(s.new), esc(s.reason)]));
  const r = d.risk;
  document.getElementById("risk").innerHTML =
    table(["limit", "utilisation"], Object.entries(r.utilisation).map(([k, v]) => [esc(k),
      `<meter min="0" max="1" value="${Number(v)}"></meter> ${(Number(v) * 100).toFixed(1)}%`])) +
    "<h2>Budgets</h2>" + table(["strategy", "budget"], Object.entries(r.budgets).map(([k, v]) => [esc(k), esc(v)])) +
    "<h2>Concentration heatmap</h2>" + heat(r.heatmap);
  chart("pnl", d.pnl.series, "quote", 2);
  chart("dd", d.pnl.drawdown.length ? {drawdown: d.pnl.drawdown} : {}, "quote", 2);
  const tr = Object.entries(d.trading || {});
  document.getElementById("positions").innerHTML = table(["trader", "strategy", "pair", "quantity (base)"],
    tr.flatMap(([n, w]) => w.positions.map(p => [esc(n), esc(p.strategy), esc(p.pair), `<span class="num">${esc(p.quantity)}</span>`])));
  document.getElementById("orders").innerHTML = table(["trader", "strategy", "pair", "client order id", "reduce-only", "age (s)"],
    tr.flatMap(([n, w]) => w.openOrders.map(o => [esc(n), esc(o.strategy), esc(o.pair), `<code>${esc(o.clientOrderId)}</code>`, esc(o.reduceOnly), `<span class="num">${esc(num(o.ageSeconds, 1))}</span>`])));
  document.getElementById("fills").innerHTML = table(["time", "strategy", "pair", "side", "quantity", "price", "fee", "slippage vs mid (bps)", "realised"],
    tr.flatMap(([n, w]) => w.recentFills.map(f => [esc(t(f.at)), esc(f.strategy), esc(f.pair), `<span class="${esc(f.side)}">${esc(f.side)}</span>`,
      `<span class="num">${esc(f.quantity)}</span>`, `<span class="num">${esc(f.price)}</span>`, `<span class="num">${esc(f.fee)}</span> ${esc(f.feeCurrency || "")}`,
      `<span class="num">${esc(f.slippageBps === null ? "--" : signed(f.slippageBps, 2))}</span>`, `<span class="num">${esc(signed(f.realised, 4))}</span>`])));
  document.getElementById("stats").innerHTML = table(["strategy", "orders", "fills", "volume (quote)", "fees (quote)", "closes", "hit rate", "P&L (quote)"],
    tr.flatMap(([n, w]) => Object.entries(w.stats).map(([s, x]) => [esc(s), `<span class="num">${esc(x.orders)}</span>`, `<span class="num">${esc(x.fills)}</span>`,
      `<span class="num">${esc(num(x.volume, 2))}</span>`, `<span class="num">${esc(num(x.fees, 4))}</span>`, `<span class="num">${esc(x.closes)}</span>`,
      `<span class="num">${esc(x.hitRate === null ? "--" : num(100 * x.hitRate, 1) + " %")}</span>`, `<span class="num">${esc(signed(x.pnl, 2))}</span>`])));
  document.getElementById("freshness").innerHTML = table(["trader", "pair", "book age (s)", "state"],
    tr.flatMap(([n, w]) => Object.entries(w.books || {}).map(([p, b]) => [esc(n), esc(p), `<span class="num">${esc(num(b.ageSeconds, 1))}</span>`,
      b.refused ? `<span class="STOP">refused</span>: ${esc(b.refused)}` : '<span class="GO">accepted</span>'])));
  const ms = v => v === null || v === undefined ? "--" : num(1000 * v, 1);
  document.getElementById("venue").innerHTML = table(["trader", "venue", "breaker", "submit→ack p50 (ms)", "submit→ack p99 (ms)", "submits", "calls p99 (ms)", "calls", "failures", "book age (s)", "last error"],
    tr.map(([n, w]) => { const h = w.health || {}, sl = h.submitLatencySeconds || {};
      return [esc(n), esc(w.venue), esc(h.breaker), `<span class="num">${esc(ms(sl.p50))}</span>`, `<span class="num">${esc(ms(sl.p99))}</span>`, `<span class="num">${esc(sl.n || 0)}</span>`,
        `<span class="num">${esc(ms(h.p99LatencySeconds))}</span>`, `<span class="num">${esc(h.calls)}</span>`, `<span class="num">${esc(h.failures)}</span>`,
        `<span class="num">${esc(num(h.telemetryAgeSeconds, 1))}</span>`, esc(h.lastError)]; }));
  document.getElementById("alerts").innerHTML = table(["time", "state", "severity", "scope", "title", "sent to"],
    d.alerts.map(a => [esc(t(a.at)), `<span class="${esc(a.state)}">${esc(a.state)}</span>`, esc(a.severity),
      esc(a.scope), esc(a.title), esc((a.channels || []).join(", "))]));
  document.getElementById("tickets").innerHTML = table(["ticket", "title", "occurrences"],
    d.tickets.map(k => [esc(k.id), esc(k.title), esc((k.occurrences || []).length)]));
}
async function history() {
  const r = await fetch("api/history?limit=360", {cache: "no-store"});
  const snaps = (await r.json()).snapshots;
  const series = {};
  snaps.forEach(s => Object.entries(s.agents).forEach(([n, a]) => {
    (series[n + " queue"] = series[n + " queue"] || []).push([s.at, a.queue]);
    (series[n + " restarts"] = series[n + " restarts"] || []).push([s.at, a.restarts]);
  }));
  chart("history", series, "count", 0);
}
async function tick() {
  try {
    const r = await fetch("api/dashboard", {cache: "no-store"});
    render(await r.json());
    await history();
  } catch (e) {
    document.getElementById("updated").innerHTML = `<span class="err">dashboard unreachable: ${esc(e)}</span>`;
  }
  setTimeout(tick, 1000);
}
tick();
</script></body></html>
"""
