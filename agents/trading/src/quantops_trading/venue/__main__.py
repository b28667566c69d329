"""``python -m quantops_trading.venue --port 0 --config venue.yaml``: run one simulated venue.

Why it exists: the venue-sim Agent (and humans, and subprocess tests) run the simulator as its own
process. It prints exactly one line, ``listening <url>``, once the socket is bound (port 0 picks a
free port), then serves until SIGINT/SIGTERM. It must not contain simulator logic.
``$QUANTOPS_SIM_CONTROL_TOKEN``, when set, is the token the ``/_sim/*`` control API requires.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from quantops_trading.venue.config import load_config
from quantops_trading.venue.server import VenueServer


async def _serve(args: argparse.Namespace) -> None:
    cfg = load_config(args.config)
    if os.environ.get("QUANTOPS_SIM_CONTROL_TOKEN"):
        cfg = cfg.model_copy(update={"control_token": os.environ["QUANTOPS_SIM_CONTROL_TOKEN"]})
    server = VenueServer(cfg, data_dir=Path(args.data_dir) if args.data_dir else None)
    url = await server.start(args.host, args.port)
    print(f"listening {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quantops_trading.venue")
    parser.add_argument("--config", required=True, help="venue YAML/JSON (VenueConfig)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="market data root (default: shared data)")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
