"""Observability for the supervisor role (roadmap 91–100).

Why a package of its own: the dashboard, heartbeat snapshots, alert routing, starvation scoring,
trace ids, incident tickets, audit diffs and postmortems all read the same two sources (the local
supervisor's /api/status and <state>/audit.jsonl, plus strategy event logs) and must not leak into
the trading hot path. Only :mod:`trace` is meant to be imported by trading code.
"""
