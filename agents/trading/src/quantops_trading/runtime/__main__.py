"""`python -m quantops_trading.runtime [ROLE] --role ROLE --agent NAME [--port N]`: run one agent.

Control plane: `--control URL` or $QUANTOPS_CONTROL_URL (the `quantops up` supervisor, with this
agent's own credential in $QUANTOPS_CONTROL_TOKEN — never on the command line), else Kubernetes
(in-cluster service account or $KUBECONFIG).

The config file is checked before anything starts (:func:`check_config`): a misspelt or misplaced
key exits 2 with the field named (``spec.config.health.p99LimitSeconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from quantops_api.manifests import field_errors
from quantops_api.v1alpha1.roleconfig import AgentConfigFile
from quantops_trading.config.schema import LogRotationPolicy
from quantops_trading.ops.logrotation import capture_stdio, configure_logging
from quantops_trading.runtime.agent import AgentRuntime
from quantops_trading.runtime.control import Control, KubeControl, KubeCredentials, LocalControl
from quantops_trading.runtime.roleconfig import RoleConfigError, validate_config
from quantops_trading.runtime.roles import work_for


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="quantops-agent")
    ap.add_argument("role_pos", nargs="?", help="role (same as --role)")
    ap.add_argument("--role", default=os.environ.get("QUANTOPS_ROLE"))
    ap.add_argument("--agent", default=os.environ.get("QUANTOPS_AGENT"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("QUANTOPS_PORT", "8080")))
    ap.add_argument("--host", default=os.environ.get("QUANTOPS_HOST", "0.0.0.0"))
    ap.add_argument("--config", default=os.environ.get("QUANTOPS_CONFIG"))
    ap.add_argument("--control", default=os.environ.get("QUANTOPS_CONTROL_URL"))
    ns = ap.parse_args(argv)
    role = ns.role or ns.role_pos
    if not role or not ns.agent:
        ap.error("--role and --agent are required (or QUANTOPS_ROLE / QUANTOPS_AGENT)")
    cfg = json.loads(Path(ns.config).read_text()) if ns.config and Path(ns.config).exists() else {}
    refused = check_config(ns.agent, role, cfg)
    if refused:
        print(f"quantops-agent: {ns.agent}: refusing to start: {refused}", file=sys.stderr, flush=True)
        return 2
    if log_dir := os.environ.get("QUANTOPS_LOG_DIR"):  # 7: bounded files (`quantops up`); on
        # Kubernetes stdout stays the container log, which the kubelet rotates
        capture_stdio(configure_logging(ns.agent, Path(log_dir), LogRotationPolicy()))
    replica = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
    control: Control
    if ns.control:
        control = LocalControl(ns.control, ns.agent, replica, os.environ.get("QUANTOPS_CONTROL_TOKEN"))
    else:
        control = KubeControl(KubeCredentials.discover(), ns.agent, replica, list(cfg.get("strategies", [])))
    rt = AgentRuntime(
        name=ns.agent,
        role=role,
        control=control,
        work=work_for(role, cfg.get("config", {}), cfg),
        heartbeat_seconds=float(cfg.get("heartbeatSeconds", 5.0)),
        api_loss_grace_seconds=float(cfg.get("apiLossGraceSeconds", 15.0)),
        host=ns.host,
        port=ns.port,
    )
    return asyncio.run(rt.run())


def check_config(agent: str, role: str, cfg: dict[str, Any]) -> str:
    """Why this agent's config file must not start it ("" when it may): the file's own keys, then
    spec.config with the role's model. A refusal is logged as a ``config_invalid`` event and, with
    $QUANTOPS_STATE_DIR, audited as ``AgentConfigInvalid`` (the dashboard's audit stream)."""
    try:
        AgentConfigFile.model_validate(cfg)
        validate_config(role, cfg.get("config") or {})
    except ValidationError as e:
        why = "; ".join(field_errors(e))
    except RoleConfigError as e:
        why = str(e)
    else:
        return ""
    fields = {"agent": agent, "role": role, "error": why}
    print(json.dumps({"event": "config_invalid", **fields}), flush=True)
    if state := os.environ.get("QUANTOPS_STATE_DIR"):
        line = json.dumps({"at": time.time(), "event": "AgentConfigInvalid", **fields}) + "\n"
        with contextlib.suppress(OSError):  # the event line above still carries it
            Path(state).mkdir(parents=True, exist_ok=True)
            fd = os.open(Path(state) / "audit.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
    return why


if __name__ == "__main__":
    sys.exit(main())
