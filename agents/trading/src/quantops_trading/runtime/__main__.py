"""`python -m quantops_trading.runtime [ROLE] --role ROLE --agent NAME [--port N]`: run one agent.

Control plane: `--control URL` or $QUANTOPS_CONTROL_URL (the `quantops up` supervisor, with this
agent's own credential in $QUANTOPS_CONTROL_TOKEN — never on the command line), else Kubernetes
(in-cluster service account or $KUBECONFIG).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from pathlib import Path

from quantops_trading.runtime.agent import AgentRuntime
from quantops_trading.runtime.control import Control, KubeControl, KubeCredentials, LocalControl
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


if __name__ == "__main__":
    sys.exit(main())
