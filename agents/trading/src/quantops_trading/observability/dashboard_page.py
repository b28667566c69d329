"""The dashboard page: one self-contained HTML document (inline CSS and JS, no CDN).

Why a module of its own: the markup and script are data, kept apart from the server logic in
:mod:`dashboard`. The script polls ``/api/dashboard`` every second and re-renders each panel in
place (no reload), draws PnL/drawdown/history as inline SVG, the concentration heatmap as a
coloured table, and escapes every value it inserts. Element ids (``agents``, ``gates``,
``gate-history``, ``strategies``, ``risk``, ``pnl``, ``alerts``, ``history``, ``updated``) are
stable for tests and scrapers.
"""

# ruff: noqa: E501  (the page is data: JavaScript lines are kept whole for readability)
from __future__ import annotations

__all__ = ["PAGE"]

PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quantops — status</title>
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
svg{background:#fafafa;border:1px solid #eee}
</style></head>
<body>
<header><b>quantops — single pane</b><span id="updated" class="muted">loading…</span></header>
<main>
<section><h2>Agents</h2><div id="agents"></div></section>
<section><h2>Gates</h2><div id="gates"></div><h2>Gate history</h2><div id="gate-history"></div></section>
<section><h2>Strategies and stages</h2><div id="strategies"></div><div id="stages"></div></section>
<section><h2>Risk utilisation</h2><div id="risk"></div></section>
<section><h2>PnL and drawdown</h2><div id="pnl"></div></section>
<section><h2>Recent alerts</h2><div id="alerts"></div><h2>Open incidents</h2><div id="tickets"></div></section>
<section><h2>Heartbeat history (5 s snapshots)</h2><div id="history"></div></section>
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
function spark(series, w, h) {
  const pts = Object.values(series).flat();
  if (!pts.length) return '<p class="muted">no data yet</p>';
  const xs = pts.map(p => p[0]), ys = pts.map(p => p[1]).concat([0]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1, y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = x => 4 + (w - 8) * (x - x0) / ((x1 - x0) || 1), sy = y => h - 4 - (h - 8) * (y - y0) / ((y1 - y0) || 1);
  const colours = ["#1f77b4","#d62728","#2ca02c","#ff7f0e","#9467bd"];
  let out = `<svg width="${w}" height="${h}"><line x1="0" x2="${w}" y1="${sy(0)}" y2="${sy(0)}" stroke="#bbb"/>`;
  Object.entries(series).forEach(([name, s], i) => {
    out += `<polyline fill="none" stroke-width="2" stroke="${colours[i % 5]}" points="${s.map(p => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" ")}"><title>${esc(name)}</title></polyline>`;
  });
  return out + "</svg><div class='muted'>" + Object.keys(series).map((n, i) => `<span style="color:${colours[i % 5]}">■ ${esc(n)}</span>`).join(" ") + "</div>";
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
  document.getElementById("pnl").innerHTML = "<b>PnL</b>" + spark(d.pnl.series, 440, 140) +
    "<b>Drawdown</b>" + spark({drawdown: d.pnl.drawdown}, 440, 100);
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
  document.getElementById("history").innerHTML = `<p class="muted">${snaps.length} snapshots</p>` + spark(series, 440, 120);
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
