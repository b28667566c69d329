"""The simulator's ``/_sim/*`` control API requires its control token when one is configured.

Without the token a request is refused (401) before anything is counted or changed: no fault is
installed, the replay clock does not move. The exchange API keeps its own Binance HMAC auth and
never asks for the control token. The venue-sim agent takes the token from its environment only.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from quantops_trading.runtime.roles import SIM_TOKEN_ENV, VenueWork, work_for
from quantops_trading.venue.testing import SimControl, running_venue, sample_config

TOKEN = "sim-control-token-for-tests"


async def _status(method: str, url: str, headers: dict[str, str] | None = None, **kw: Any) -> int:
    async with aiohttp.ClientSession() as s, s.request(method, url, headers=headers or {}, **kw) as r:
        return r.status


async def test_sim_refuses_without_the_token_and_changes_nothing() -> None:
    async with running_venue(sample_config(control_token=TOKEN)) as sim:
        ctl = SimControl(sim.url, TOKEN)
        before = await ctl.state()
        fault = {"kind": "maintenance"}
        assert await _status("POST", f"{sim.url}/_sim/faults", json=fault) == 401
        assert await _status("POST", f"{sim.url}/_sim/step", json={"ms": 60_000}) == 401
        assert await _status("DELETE", f"{sim.url}/_sim/faults") == 401
        assert await _status("GET", f"{sim.url}/_sim/state") == 401
        wrong = {"Authorization": "Bearer not-it"}
        assert await _status("POST", f"{sim.url}/_sim/faults", wrong, json=fault) == 401
        assert await _status("POST", f"{sim.url}/_sim/speed", wrong, json={"speed": 1000}) == 401
        with pytest.raises(aiohttp.ClientResponseError) as e:
            await SimControl(sim.url).state()  # the helper without the token
        assert e.value.status == 401
        after = await ctl.state()
        assert after["elapsedMs"] == before["elapsedMs"]
        assert after["requests"] == before["requests"] + 1  # refusals are not even counted
        assert sim.faults.listing() == []
        # the exchange API is unaffected: public routes need no control token
        assert await _status("GET", f"{sim.url}/api/v3/ping") == 200
        rid = await ctl.add_fault(kind="maintenance", path="/api/v3/ping")
        assert await _status("GET", f"{sim.url}/api/v3/ping") == 503
        await ctl.clear_faults(rid)


def test_the_venue_sim_agent_takes_its_control_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    venue = sample_config().model_dump(mode="json", by_alias=True)
    monkeypatch.setenv(SIM_TOKEN_ENV, TOKEN)
    work = work_for("venue-sim", {"venue": venue})
    assert isinstance(work, VenueWork) and work.config.control_token == TOKEN
    assert TOKEN not in repr(work.config) and "controlToken" not in work.config.model_dump_json(by_alias=True)
    monkeypatch.delenv(SIM_TOKEN_ENV)
    open_work = work_for("venue-sim", {"venue": venue})
    assert isinstance(open_work, VenueWork) and open_work.config.control_token is None
