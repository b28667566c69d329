"""Exchange keys from the environment / a mounted Secret into the ccxt client, never printed.

Against the real venue simulator over HTTP: the simulator checks the API key and the HMAC signature
(venue/private_routes.py), so keys read from the environment or files must sign correctly, and a
wrong secret from the same source must be rejected.
"""

from __future__ import annotations

import logging
from pathlib import Path

import ccxt
import pytest

from quantops_trading.adapters.ccxt import CcxtExecutionClient, make_binance
from quantops_trading.adapters.ccxt.credentials import (
    API_KEY_ENV,
    CREDENTIALS_DIR_ENV,
    SECRET_ENV,
    MissingCredentials,
    load_credentials,
)
from quantops_trading.execution.errors import ConfigurationError
from quantops_trading.venue.testing import API_KEY, API_SECRET, running_venue

LIVE_KEY = "AbCdEfGh-live-key-0123456789"
LIVE_SECRET = "s3cr3t-live-value-9876543210"


def _secret_dir(tmp_path: Path, **files: str) -> Path:
    d = tmp_path / "exchange"
    d.mkdir()
    for name, value in files.items():
        (d / name).write_text(value + "\n")  # `kubectl create secret --from-file` keeps newlines
    return d


def test_keys_come_from_env_then_files_and_arguments_win(tmp_path: Path) -> None:
    d = _secret_dir(tmp_path, apiKey="file-key", secret="file-secret")
    env = {API_KEY_ENV: "env-key", CREDENTIALS_DIR_ENV: str(d)}
    creds = load_credentials(environ=env)
    assert (creds.api_key, creds.secret, creds.source) == ("env-key", "file-secret", "env+files")
    assert load_credentials(environ={CREDENTIALS_DIR_ENV: str(d)}).api_key == "file-key"
    given = load_credentials("arg-key", "arg-secret", environ=env)
    assert (given.api_key, given.secret, given.source) == ("arg-key", "arg-secret", "arguments")
    assert load_credentials(environ={}).missing() == ["apiKey", "secret"]


def test_a_live_venue_without_keys_fails_naming_the_missing_key() -> None:
    with pytest.raises(MissingCredentials) as err:
        make_binance(None, environ={API_KEY_ENV: LIVE_KEY})
    msg = str(err.value)
    assert "missing secret" in msg and SECRET_ENV in msg and "'secret'" in msg
    assert "apiKey" not in msg.split("missing", 1)[1]  # only the missing key is named
    assert isinstance(err.value, ConfigurationError) and err.value.venue == "binance"
    with pytest.raises(MissingCredentials, match=f"missing apiKey, secret .*{API_KEY_ENV}"):
        make_binance(None, environ={})


async def test_live_client_gets_the_keys_and_logs_never_show_them(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ex = make_binance(None, environ={API_KEY_ENV: LIVE_KEY, SECRET_ENV: LIVE_SECRET})
    try:
        assert (ex.apiKey, ex.secret) == (LIVE_KEY, LIVE_SECRET)
        assert "api.binance.com" in ex.urls["api"]["public"]  # not pointed anywhere else
    finally:
        await ex.close()
    creds = load_credentials(environ={API_KEY_ENV: LIVE_KEY, SECRET_ENV: LIVE_SECRET})
    shown = [repr(creds), str(creds), caplog.text, f"{creds!r:>10}"]
    for text in shown:
        assert LIVE_KEY not in text and LIVE_SECRET not in text
        assert LIVE_KEY[:8] not in text and LIVE_SECRET[:8] not in text
    assert "<redacted>" in repr(creds) and "source=env" in repr(creds)
    assert "binance client for the live venue" in caplog.text


async def test_keys_from_a_mounted_secret_sign_requests_the_simulator_accepts(tmp_path: Path) -> None:
    d = _secret_dir(tmp_path, apiKey=API_KEY, secret=API_SECRET)
    async with running_venue() as sim:
        client = CcxtExecutionClient(make_binance(sim.url, environ={CREDENTIALS_DIR_ENV: str(d)}), "sim")
        try:
            balance = await client.fetch_balance()  # signed: X-MBX-APIKEY + HMAC-SHA256
            assert balance["USDT"] > 0
        finally:
            await client.close()


async def test_a_wrong_secret_from_the_environment_is_rejected_by_the_simulator() -> None:
    async with running_venue() as sim:
        env = {API_KEY_ENV: API_KEY, SECRET_ENV: "not-the-secret"}
        ex = make_binance(sim.url, environ=env)
        try:
            with pytest.raises(ccxt.AuthenticationError):
                await ex.fetch_balance()
        finally:
            await ex.close()
        client = CcxtExecutionClient(make_binance(sim.url, environ={**env, API_KEY_ENV: "nobody"}), "sim")
        try:
            with pytest.raises(ConfigurationError):  # translated: a bad key is configuration, not retryable
                await client.fetch_balance()
        finally:
            await client.close()
