"""The simulator's ``/_sim/*`` control API requires its control token when one is configured.

Without the token a request is refused (401) before anything is counted or changed: no fault is
installed, the replay clock does not move. The exchange API keeps its own Binance HMAC auth and
never asks for the control token. The venue-sim agent takes the token from its environment only,
and its accounts' keys only from the Secrets they name (``secretRef``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from quantops_trading.runtime.roles import SECRETS_DIR_ENV, SIM_TOKEN_ENV, VenueWork, work_for
from quantops_trading.venue.testing import API_KEY, API_SECRET, SimControl, running_venue, sample_config

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


def _by_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The sample venue with its account named by a Secret, as a manifest must (keys never inline)."""
    venue = sample_config().model_dump(mode="json", by_alias=True, exclude_none=True)
    account = venue["apiKeys"][0]
    (tmp_path / "acct").mkdir()
    (tmp_path / "acct" / "apiKey").write_text(account.pop("key"))
    (tmp_path / "acct" / "secret").write_text(account.pop("secret"))
    account["secretRef"] = "acct"
    monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
    return venue


def test_the_venue_sim_agent_reads_its_accounts_from_their_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venue = _by_secret(tmp_path, monkeypatch)
    work = work_for("venue-sim", {"venue": venue})
    assert isinstance(work, VenueWork)
    [account] = work.config.api_keys
    assert (account.key, account.secret) == (API_KEY, API_SECRET) and API_SECRET not in repr(account)
    (tmp_path / "acct" / "secret").unlink()
    with pytest.raises(SystemExit, match=r"apiKeys\[0\].secretRef 'acct': secret missing"):
        work_for("venue-sim", {"venue": venue})
    inline = sample_config().model_dump(mode="json", by_alias=True, exclude_none=True)
    with pytest.raises(SystemExit, match=r"spec.config.venue: apiKeys\[0\].secret: exchange keys never"):
        work_for("venue-sim", {"venue": inline})


def test_the_venue_sim_agent_takes_its_control_token_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venue = _by_secret(tmp_path, monkeypatch)
    monkeypatch.setenv(SIM_TOKEN_ENV, TOKEN)
    work = work_for("venue-sim", {"venue": venue})
    assert isinstance(work, VenueWork) and work.config.control_token == TOKEN
    assert TOKEN not in repr(work.config) and "controlToken" not in work.config.model_dump_json(by_alias=True)
    monkeypatch.delenv(SIM_TOKEN_ENV)
    open_work = work_for("venue-sim", {"venue": venue})
    assert isinstance(open_work, VenueWork) and open_work.config.control_token is None
