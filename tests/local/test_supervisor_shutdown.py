"""The local supervisor answers its agents' gate long-polls when it shuts down.

aiohttp waits for running handlers on shutdown; a gate long-poll left waiting would hold every
`quantops up` stop (and every agent's last poll) for the poll's full 25 s.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from supervisor_support import agent, serve

from quantops_local.manifests import load
from quantops_local.supervisor import Supervisor

HERE = Path(__file__).parent


async def test_shutdown_answers_a_waiting_gate_long_poll(tmp_path: Path) -> None:
    sup = Supervisor(load([HERE / "platform-fast.yaml"]), tmp_path)
    runner, base = await serve(sup)
    url = f"{base}/api/gates"
    async with httpx.AsyncClient(timeout=10.0, headers=agent(sup, "trader")) as http:
        first = (await http.get(url, params={"agent": "trader"})).json()
        # nothing changes: this poll waits (up to 25 s) for a gate change
        poll = asyncio.create_task(http.get(url, params={"agent": "trader", "since": str(first["version"])}))
        await asyncio.sleep(0.3)
        assert not poll.done(), "the long-poll should be waiting for a change"
        await runner.cleanup()
        # answered at shutdown with the current gates, well inside the client's 10 s timeout
        r = await poll
    assert r.status_code == 200
    assert r.json()["gates"] == first["gates"]
