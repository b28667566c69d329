"""Network self-check: DNS, TCP and HTTP against loopback only (roadmap 4)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from quantops_trading.config import NetworkSection, VenueEndpoint
from quantops_trading.ops.network import (
    acheck_network,
    check_configured,
    check_network,
)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 503 if self.path.startswith("/broken") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_reachable_venue_is_go_with_all_steps(server_url: str) -> None:
    result = check_network([VenueEndpoint(name="sim", url=server_url + "/api")], timeout_s=2)
    assert result.verdict == "GO", result.reason
    (venue,) = result.venues
    assert venue.dns
    assert venue.dns.ok
    assert "127.0.0.1" in venue.dns.detail
    assert venue.tcp
    assert venue.tcp.ok
    assert venue.http
    assert venue.http.ok
    assert "HTTP 200" in venue.http.detail
    assert venue.clock_skew_s is not None
    assert abs(venue.clock_skew_s) < 5


def test_localhost_name_resolves(server_url: str) -> None:
    port = server_url.rsplit(":", 1)[1]
    result = check_network([VenueEndpoint(name="lh", url=f"http://localhost:{port}/")], timeout_s=2)
    assert result.go, result.reason


def test_closed_port_is_no_go_at_tcp() -> None:
    result = check_network([VenueEndpoint(name="down", url=f"http://127.0.0.1:{_unused_port()}/")], 2)
    assert result.verdict == "NO_GO"
    assert result.reason.startswith("down: tcp failed")
    assert result.venues[0].http is None


def test_invalid_tld_is_no_go_at_dns() -> None:
    result = check_network([VenueEndpoint(name="ghost", url="https://venue.quantops.invalid/")], 2)
    assert result.verdict == "NO_GO"
    assert result.reason.startswith("ghost: dns failed (cannot resolve venue.quantops.invalid")
    assert result.venues[0].tcp is None


def test_server_error_is_no_go_at_http(server_url: str) -> None:
    result = check_network([VenueEndpoint(name="sick", url=server_url + "/broken")], 2)
    assert result.verdict == "NO_GO"
    assert "sick: http failed" in result.reason
    assert "HTTP 503" in result.reason


def test_one_failure_gates_feeds_unless_partial_allowed(server_url: str) -> None:
    venues = [
        VenueEndpoint(name="sim", url=server_url),
        VenueEndpoint(name="down", url=f"http://127.0.0.1:{_unused_port()}"),
    ]
    strict = check_configured(NetworkSection(venues=tuple(venues), timeout_s=2))
    assert strict.verdict == "NO_GO"
    assert "down: tcp failed" in strict.reason
    lenient = check_network(venues, 2, require_all=False)
    assert lenient.verdict == "GO"
    assert lenient.reason.startswith("1/2 venue(s) reachable")
    assert lenient.go


def test_no_venues_is_no_go() -> None:
    result = check_network([])
    assert result.verdict == "NO_GO"
    assert result.reason == "no venues configured"


async def test_async_variant(server_url: str) -> None:
    result = await acheck_network([VenueEndpoint(name="sim", url=server_url)], 2)
    data = result.to_dict()
    assert data["verdict"] == "GO"
    assert data["venues"][0]["ok"] is True
