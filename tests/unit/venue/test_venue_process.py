"""The simulator as its own process: ``python -m quantops_trading.venue`` prints its URL and serves."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from quantops_trading.adapters.ccxt import make_binance


async def test_module_entry_point_serves_ccxt(tmp_path: Path) -> None:
    cfg = {
        "name": "proc",
        "symbols": [
            {
                "symbol": "BTC/USDT",
                "base": "BTC",
                "quote": "USDT",
                "bookFile": "orderbook/binance-spot_BTC-USDT_L2top20_20240808-09_reconstructed.csv.gz",
            }
        ],
        "apiKeys": [{"key": "k", "secret": "s", "balances": {"USDT": "1000"}}],
        "takerFee": "0.00075",
    }
    path = tmp_path / "venue.json"
    path.write_text(json.dumps(cfg))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "quantops_trading.venue", "--port", "0", "--config", str(path),
        stdout=asyncio.subprocess.PIPE,
        env=os.environ.copy(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert line.startswith("listening http://127.0.0.1:")
        ex = make_binance(line.split()[1], "k", "s")
        try:
            await ex.load_markets()
            assert (await ex.fetch_balance())["free"]["USDT"] == 1000
            o = await ex.create_order("BTC/USDT", "market", "buy", "0.001")
            assert o["fee"]["cost"] == 0.00000075 or o["fee"]["cost"] > 0
        finally:
            await ex.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
