"""Strategy status under `quantops up`: the local twin of the Strategy status subresource.

Why it exists: on Kubernetes the pipeline agent patches ``Strategy.status`` (stage, fingerprint,
evidence, score, transitions); locally the supervisor is the control plane, so it keeps those
statuses, serves them to agents and in ``/api/status`` (``strategies``), and persists them to
``<state>/strategy-status.json`` so a supervisor restart keeps every stage. Every write is an
audit record (``StrategyStatusChanged``: who, old → new stage, the decision's reason); ``who`` is
the caller's authenticated principal (quantops_local.auth: a pipeline agent or a person), never the
body's — a body ``who`` that differs is kept as ``unverifiedWho``, free text.

Routes: ``GET /api/strategies`` → specs, statuses and RiskPolicy specs (what the pipeline needs);
``POST /api/strategies/{name}/status`` with ``{"patch": {...wire status...}}``
(top-level JSON merge: a ``null`` removes a field). A bad patch is a 400 naming the field.
:meth:`StrategyStatusBook.stages_for` is what the supervisor adds to an agent's ``/api/gates``
long-poll, and ``listeners`` (awaited after every write) wake that long-poll, so a trader applies a
stage change at once (docs/pipeline.md "Stages in the trader").
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from quantops_api import RiskPolicy, Strategy, StrategyStatus
from quantops_local.auth import principal_of

__all__ = ["StrategyStatusBook"]


class StrategyStatusBook:
    def __init__(
        self,
        strategies: dict[str, Strategy],
        policies: dict[str, RiskPolicy],
        state_dir: Path,
        audit: Callable[..., None],
    ) -> None:
        self.strategies, self.policies, self.audit = strategies, policies, audit
        self.path = state_dir / "strategy-status.json"
        self.statuses: dict[str, StrategyStatus] = {
            n: s.status or StrategyStatus() for n, s in strategies.items()
        }
        if self.path.is_file():
            saved = json.loads(self.path.read_text())
            for name, wire in saved.items():
                if name in self.statuses:
                    self.statuses[name] = StrategyStatus.model_validate(wire)
        self.listeners: list[Callable[[], Awaitable[None]]] = []

    def stages_for(self, names: list[str]) -> dict[str, dict[str, str | None]]:
        """``{"stage": status.stage, "desiredStage": spec.desiredStage}`` of each named Strategy."""
        out: dict[str, dict[str, str | None]] = {}
        for n in names:
            st, s = self.statuses.get(n), self.strategies.get(n)
            out[n] = {
                "stage": st.stage.value if st is not None and st.stage is not None else None,
                "desiredStage": s.spec.desired_stage.value if s is not None else None,
            }
        return out

    def view(self) -> dict[str, Any]:
        return {n: s.to_wire() for n, s in sorted(self.statuses.items())}

    def listing(self) -> dict[str, Any]:
        return {
            "strategies": [
                {
                    "name": n,
                    "spec": s.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
                    "status": self.statuses[n].to_wire(),
                }
                for n, s in sorted(self.strategies.items())
            ],
            "riskPolicies": {
                n: p.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
                for n, p in sorted(self.policies.items())
            },
        }

    def write(self, name: str, patch: Any, who: str, unverified_who: str | None = None) -> StrategyStatus:
        """Merge ``patch`` into the status; ValueError names the field on bad input.

        ``who``: the authenticated principal; ``unverified_who``: what the caller said it was."""
        if name not in self.statuses:
            raise KeyError(f"Strategy/{name} does not exist")
        if not isinstance(patch, dict):
            raise ValueError("patch: must be an object (a partial Strategy status)")
        old = self.statuses[name]
        wire = old.to_wire()
        for k, v in patch.items():
            if v is None:
                wire.pop(k, None)
            else:
                wire[k] = v
        try:
            new = StrategyStatus.model_validate(wire)
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"patch.{loc}: {first['msg']}") from e
        self.statuses[name] = new
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.view()))
        os.replace(tmp, self.path)
        reason = ((new.evidence or {}).get("decision") or {}).get("reason", "")
        self.audit(
            "StrategyStatusChanged",
            strategy=name,
            who=who,
            **({"unverifiedWho": unverified_who} if unverified_who not in (None, who) else {}),
            old=old.stage.value if old.stage else None,
            new=new.stage.value if new.stage else None,
            fingerprint=new.fingerprint,
            reason=reason,
        )
        return new

    def routes(self) -> list[web.RouteDef]:
        async def listing(_: web.Request) -> web.Response:
            return web.json_response(self.listing())

        async def write(req: web.Request) -> web.Response:
            name = req.match_info["name"]
            try:
                body = await req.json()
            except ValueError:
                return web.json_response({"error": "body: not JSON"}, status=400)
            claimed = body.get("who") if isinstance(body, dict) else None
            try:
                new = self.write(
                    name,
                    body.get("patch") if isinstance(body, dict) else None,
                    principal_of(req).name,
                    str(claimed) if claimed is not None else None,
                )
            except KeyError as e:
                return web.json_response({"error": str(e.args[0])}, status=404)
            except ValueError as e:
                return web.json_response({"error": str(e)}, status=400)
            for notify in self.listeners:
                await notify()
            return web.json_response({"name": name, "status": new.to_wire()})

        return [
            web.get("/api/strategies", listing),
            web.post("/api/strategies/{name}/status", write),
        ]
