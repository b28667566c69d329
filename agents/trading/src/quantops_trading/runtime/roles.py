"""Role → work. Roles whose work lands in later issues run IdleWork (heartbeats, gates, health)."""

from __future__ import annotations

from typing import Any

from quantops_trading.runtime.agent import IdleWork, RoleWork

ROLES = ("trader", "pipeline", "supervisor", "feed", "venue-sim", "canary")


def work_for(role: str, config: dict[str, Any]) -> RoleWork:
    if role not in ROLES:
        raise SystemExit(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return IdleWork()
