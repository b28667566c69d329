"""scripts/autonomy_bootstrap.sh end to end on a copy of the checkout (roadmaps 1 and 10)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from quantops_trading.ops.checksums import read_manifest
from quantops_trading.paths import repo_root

REAL_ROOT = repo_root()


def _copy_checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    for src in (REAL_ROOT / "scripts").iterdir():
        if src.is_file():
            shutil.copy2(src, root / "scripts" / src.name)
    shutil.copy2(REAL_ROOT / "requirements.lock", root / "requirements.lock")
    # a manifest current for the copy, so these tests do not depend on the committed one
    # (test_ops_checksums.py::test_committed_manifest_is_current covers that)
    subprocess.run([str(root / "scripts" / "checksums.sh"), "update"], check=True, capture_output=True)
    return root


def _fake_venv(tmp_path: Path) -> Path:
    """A venv whose entry points echo what the bootstrap execs; other python calls hit the real one."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "python").write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ] && [ "$2" = quantops_trading.runtime ]; then echo "RUNTIME $*"; exit 0; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    (bin_dir / "quantops").write_text('#!/bin/sh\necho "QUANTOPS $*"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return bin_dir.parent


def _run(root: Path, tmp_path: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QUANTOPS_", "KUBE")) and k not in {"KUBECONFIG"}
    }
    env.update(
        HOME=str(tmp_path / "home"),
        QUANTOPS_STATE_DIR=str(tmp_path / "state"),
        QUANTOPS_VENV=str(_fake_venv(tmp_path)),
        **extra_env,
    )
    return subprocess.run(
        [str(root / "scripts" / "autonomy_bootstrap.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("victim", ["scripts/install.sh", "requirements.lock"])
def test_tampered_startup_file_refuses_to_start_with_diff(tmp_path: Path, victim: str) -> None:
    root = _copy_checkout(tmp_path)
    marker = tmp_path / "install-ran"
    expected = read_manifest(root / "scripts" / "CHECKSUMS.sha256")[victim]
    with (root / victim).open("a") as fh:
        fh.write(f"\n# tampered\ntouch {marker}\n" if victim.endswith(".sh") else "evil==6.6.6\n")
    actual = hashlib.sha256((root / victim).read_bytes()).hexdigest()
    proc = _run(root, tmp_path, "up")
    assert proc.returncode == 10, proc.stderr
    assert f"changed  {victim}" in proc.stderr
    assert f"- expected {expected}" in proc.stderr
    assert f"+ actual   {actual}" in proc.stderr
    assert "refusing to start" in proc.stderr
    assert "scripts/checksums.sh update" in proc.stderr
    assert not marker.exists()  # nothing from the checkout ran
    assert "QUANTOPS" not in proc.stdout


def test_added_startup_script_refuses_to_start(tmp_path: Path) -> None:
    root = _copy_checkout(tmp_path)
    (root / "scripts" / "sneaky.sh").write_text("#!/bin/sh\n")
    proc = _run(root, tmp_path, "--check-only")
    assert proc.returncode == 10
    assert "added    scripts/sneaky.sh (not in the manifest)" in proc.stderr


@pytest.mark.slow
def test_check_only_runs_preflight_and_writes_json(tmp_path: Path) -> None:
    root = _copy_checkout(tmp_path)
    proc = _run(root, tmp_path, "--skip-install", "--check-only")
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads((tmp_path / "state" / "preflight.json").read_text())
    assert report["schema"] == "quantops.preflight/v1"
    assert report["exit_code"] == proc.returncode
    assert report["checks"]["checksums"]["status"] == "ok"
    assert report["checks"]["kubernetes"]["status"] == "skipped"


@pytest.mark.slow
def test_execs_the_requested_entry_point(tmp_path: Path) -> None:
    root = _copy_checkout(tmp_path)
    up = _run(root, tmp_path, "--skip-install", "up", "--", "--manifests", "examples/")
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == "QUANTOPS up --manifests examples/"
    agent = _run(root, tmp_path, "--skip-install", "agent", "trader", "--strategy", "s1")
    assert agent.returncode == 0, agent.stderr
    assert agent.stdout.strip() == "RUNTIME -m quantops_trading.runtime trader --strategy s1"


@pytest.mark.slow
def test_preflight_failure_refuses_to_start(tmp_path: Path) -> None:
    root = _copy_checkout(tmp_path)
    proc = _run(root, tmp_path, "--skip-install", "up", QUANTOPS_TRADER__MAX_ORDERS="0")
    assert proc.returncode == 13, proc.stderr
    assert "trader.max_orders: Input should be greater than 0" in proc.stderr
    assert "QUANTOPS" not in proc.stdout


@pytest.mark.parametrize("args", [(), ("bogus",), ("agent",), ("--nope", "up")])
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    proc = _run(_copy_checkout(tmp_path), tmp_path, *args)
    assert proc.returncode == 2
    assert "usage: scripts/autonomy_bootstrap.sh" in proc.stderr
