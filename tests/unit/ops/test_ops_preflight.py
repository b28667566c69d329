"""Preflight: JSON schema, statuses, exit codes; API and network probes against loopback only (roadmap 6)."""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantops_trading.config import PreflightSection
from quantops_trading.ops import checksums
from quantops_trading.ops.host import check_clock, check_disk
from quantops_trading.ops.kubeapi import check_kubernetes_api
from quantops_trading.ops.preflight import CHECK_NAMES, SCHEMA, main, run_preflight
from quantops_trading.paths import repo_root


class _ApiHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/version" and self.headers.get("Authorization") != "Bearer bad":
            body, status = b'{"gitVersion": "v1.36.3"}', 200
        else:
            body, status = b"{}", 401
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ApiHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kubeconfig(tmp_path: Path, server: str, token: str = "good") -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
        f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
        f"users: [{{name: u, user: {{token: {token}}}}}]\n"
        "contexts: [{name: test, context: {cluster: c, user: u}}]\n"
    )
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A checkout with the real lock and a manifest current for it."""
    r = tmp_path / "checkout"
    (r / "scripts").mkdir(parents=True)
    shutil.copy2(repo_root() / "requirements.lock", r / "requirements.lock")
    checksums.write_manifest(r)
    return r


def test_kubernetes_not_configured_is_skipped_never_ok(tmp_path: Path) -> None:
    check = check_kubernetes_api(None, env={}, home=tmp_path)
    assert check.status == "skipped"
    assert check.summary.startswith("skipped: not configured")


def test_kubernetes_reachable_refused_and_down(tmp_path: Path, api_url: str) -> None:
    ok = check_kubernetes_api(None, env={"KUBECONFIG": str(_kubeconfig(tmp_path, api_url))}, home=tmp_path)
    assert ok.status == "ok", ok.summary
    assert ok.details["git_version"] == "v1.36.3"
    refused = check_kubernetes_api(_kubeconfig(tmp_path, api_url, token="bad"), env={}, home=tmp_path)
    assert refused.status == "warn"
    assert "HTTP 401" in refused.summary
    down = check_kubernetes_api(_kubeconfig(tmp_path, f"http://127.0.0.1:{_unused_port()}"), env={})
    assert down.status == "fail"
    assert "unreachable" in down.summary
    missing = check_kubernetes_api(tmp_path / "nope", env={})
    assert missing.status == "fail"


def test_clock_judgement() -> None:
    policy = PreflightSection()
    assert check_clock(policy, [0.4, -0.2]).status == "ok"
    assert check_clock(policy, [0.1, 5.0]).status == "warn"
    assert check_clock(policy, [-45.0]).status == "fail"
    assert check_clock(policy, [], kernel=(True, 1000)).status == "ok"
    assert check_clock(policy, [], kernel=(False, 16_000_000)).status == "warn"
    assert check_clock(policy, [], kernel=None).status == "warn"  # no evidence is never ok


def test_disk_thresholds(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    assert check_disk([tmp_path / "not" / "yet"], PreflightSection()).status in {"ok", "warn"}
    tight = PreflightSection(disk_warn_free_bytes=free * 4, disk_fail_free_bytes=free * 2)
    assert check_disk([tmp_path], tight).status == "fail"
    loose = PreflightSection(disk_warn_free_bytes=free * 4, disk_fail_free_bytes=0)
    assert check_disk([tmp_path], loose).status == "warn"


def test_full_report_all_ok_with_local_venue_and_api(tmp_path: Path, root: Path, api_url: str) -> None:
    env = {
        "QUANTOPS_NETWORK__VENUES": json.dumps([{"name": "sim", "url": api_url + "/version"}]),
        "KUBECONFIG": str(_kubeconfig(tmp_path, api_url)),
    }
    report = run_preflight(root, config_files=[], env=env, home=tmp_path)
    data = report.to_dict()
    assert list(data["checks"]) == list(CHECK_NAMES)
    statuses = {name: c["status"] for name, c in data["checks"].items()}
    assert statuses == dict.fromkeys(CHECK_NAMES, "ok"), data["checks"]
    assert data["schema"] == SCHEMA
    assert (data["status"], data["exit_code"]) == ("ok", 0)
    assert data["checks"]["clock"]["details"]["reference"] == "venue Date headers"
    for check in data["checks"].values():
        assert set(check) == {"status", "summary", "details", "duration_ms"}
    json.dumps(data)  # serialisable as is


def test_failures_and_skips_are_visible(tmp_path: Path, root: Path) -> None:
    (root / "scripts" / "new.sh").write_text("")
    env = {
        "QUANTOPS_NETWORK__VENUES": json.dumps([{"name": "ghost", "url": "http://ghost.quantops.invalid/"}]),
        "QUANTOPS_TRADER__MAX_ORDERS": "-1",
    }
    data = run_preflight(root, config_files=[], env=env, home=tmp_path).to_dict()
    checks = data["checks"]
    assert checks["checksums"]["status"] == "fail"
    assert "added scripts/new.sh" in checks["checksums"]["summary"]
    assert checks["config"]["status"] == "fail"
    assert "trader.max_orders" in checks["config"]["summary"]
    # the broken config falls back to defaults, so no venues: skipped, with the reason
    assert checks["network"]["status"] == "skipped"
    assert checks["kubernetes"]["status"] == "skipped"
    assert (data["status"], data["exit_code"]) == ("fail", 2)
    assert data["counts"]["skipped"] == 2


def test_network_no_go_fails_preflight(tmp_path: Path, root: Path) -> None:
    env = {
        "QUANTOPS_NETWORK__VENUES": json.dumps([{"name": "ghost", "url": "http://ghost.quantops.invalid/"}])
    }
    data = run_preflight(root, config_files=[], env=env, home=tmp_path, only=["network"]).to_dict()
    assert data["checks"]["network"]["status"] == "fail"
    assert data["checks"]["network"]["summary"].startswith("NO_GO: ghost: dns failed")
    assert data["checks"]["network"]["details"]["verdict"] == "NO_GO"


def test_main_exit_codes(tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pf.json"
    assert main(["--root", str(root), "--only", "config", "--only", "python", "--output", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert list(printed["checks"]) == ["python", "config"]
    assert main(["--root", str(root), "--only", "clock", "--compact"]) in (0, 1)  # depends on the host NTP
    assert main(["--root", str(root), "--only", "bogus"]) == 3
    (root / "requirements.lock").write_text("no-such-distribution-quantops==1.0\n")
    assert main(["--root", str(root), "--only", "dependencies"]) == 2


def test_script_is_a_thin_wrapper(root: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(repo_root() / "scripts" / "preflight_check.py"),
            "--root",
            str(root),
            "--only",
            "python",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["checks"]["python"]["status"] == "ok"
    usage = subprocess.run(
        [sys.executable, str(repo_root() / "scripts" / "preflight_check.py"), "-x"], check=False
    )
    assert usage.returncode == 3
