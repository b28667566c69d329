"""Keys and signatures never reach an error string or an event line.

Attack: ccxt's own error message for a failed signed request carries the request's URL with its
``signature=`` (and a verbose client's headers carry the key); on main at 7d63ac6 that text became
the library error's message, which the trader wrote to stdout and to its permanent event logs.
Here the real ccxt client meets the real simulator answering 502 to a signed request: the ccxt
message holds the signature, the library's error and the event line do not.
"""

from __future__ import annotations

import json
from typing import Any

import ccxt
import pytest

from quantops_trading.adapters.ccxt import make_binance
from quantops_trading.adapters.ccxt.client import CcxtExecutionClient
from quantops_trading.adapters.ccxt.credentials import API_KEY_ENV, SECRET_ENV, load_credentials, redact
from quantops_trading.execution.errors import ExchangeUnavailable
from quantops_trading.runtime.order_desk import emit
from quantops_trading.venue.testing import API_KEY, API_SECRET, SimControl, running_venue


async def test_a_failed_signed_request_leaves_no_signature_in_the_error_or_the_event_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running_venue() as sim:
        assert sim.url is not None
        control = SimControl(sim.url)
        ex = make_binance(sim.url, API_KEY, API_SECRET, timeout_ms=2000)
        try:
            await ex.load_markets()
            await control.add_fault(kind="server_error", status=502, path="/api/v3/openOrders")
            # ccxt itself: the signed URL is in its message (what would have been logged)
            with pytest.raises(ccxt.ExchangeNotAvailable) as raw:
                await ex.fetch_open_orders("BTC/USDT")
            assert "signature=" in str(raw.value) and "<redacted>" not in str(raw.value)
            signature = str(raw.value).split("signature=")[1].split()[0].split("&")[0]
            assert len(signature) == 64
            # through the library's client: the same failure, redacted
            with pytest.raises(ExchangeUnavailable) as ours:
                await CcxtExecutionClient(ex, "sim").fetch_open_orders("BTC/USDT")
        finally:
            await ex.close()
    text = str(ours.value)
    assert "502" in text and "signature=<redacted>" in text and signature not in text
    cause: Any = ours.value.__cause__  # a logged traceback prints the chained ccxt error too
    assert isinstance(cause, ccxt.ExchangeNotAvailable) and "signature=<redacted>" in str(cause)
    emit("order_failed", error=text, raw=str(raw.value))
    line = capsys.readouterr().out
    assert signature not in line and json.loads(line)["event"] == "order_failed"


def test_loaded_keys_are_masked_wherever_they_appear() -> None:
    key, secret = "live-key-0123456789", "live-secret-abcdefghijklmnop"
    creds = load_credentials(environ={API_KEY_ENV: key, SECRET_ENV: secret})
    assert key not in repr(creds) and secret not in repr(creds)
    text = redact(f"request failed: headers={{'X-MBX-APIKEY': '{key}'}} body=secret is {secret}")
    assert key not in text and secret not in text
    assert redact('{"apiKey": "abc", "signature": "f00d", "side": "BUY"}') == (
        '{"apiKey": "<redacted>", "signature": "<redacted>", "side": "BUY"}'
    )
