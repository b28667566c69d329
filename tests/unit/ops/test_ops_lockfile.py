"""requirements.lock is hashed; scripts/lockfile.py (used by lock.sh and the image build) reads it right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from quantops_trading.ops.dependencies import parse_lock
from quantops_trading.paths import repo_root

ROOT = repo_root()
LOCKFILE = ROOT / "scripts" / "lockfile.py"
H1, H2, H3 = ("sha256:" + c * 64 for c in "abc")
LOCK = (
    "# header\n"
    f"PyYAML==6.0.4 \\\n    --hash={H1}\n"
    f"pydantic==2.14.4 \\\n    --hash={H2} \\\n    --hash={H3}\n"
    "typing_extensions==4.16.0\n"
)


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LOCKFILE), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_committed_lock_pins_every_distribution_with_a_hash() -> None:
    proc = _run("check", "requirements.lock")
    assert proc.returncode == 0, proc.stderr
    text = (ROOT / "requirements.lock").read_text()
    assert "bash scripts/lock.sh" in text.split("\n\n")[0]  # the regeneration command is at the top
    pins = parse_lock(text)
    # the build backend is pinned too, so the editable install needs no unhashed download
    assert {"setuptools", "wheel"} <= pins.keys()
    assert text.count("--hash=sha256:") >= len(pins)


def test_check_names_the_pins_without_a_hash(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(LOCK)
    proc = _run("check", str(lock))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"lockfile: pins without --hash in {lock}: typing_extensions==4.16.0"
    lock.write_text("# nothing pinned\n")
    assert _run("check", str(lock)).returncode == 1


def test_strip_and_subset(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(LOCK)
    assert _run("strip", str(lock)).stdout == "pydantic==2.14.4\nPyYAML==6.0.4\ntyping_extensions==4.16.0\n"
    names = tmp_path / "names.txt"
    names.write_text("pyyaml\nPydantic\n")
    sub = _run("subset", str(lock), str(names))
    assert sub.returncode == 0, sub.stderr
    assert sub.stdout == (
        f"pydantic==2.14.4 \\\n    --hash={H2} \\\n    --hash={H3}\nPyYAML==6.0.4 \\\n    --hash={H1}\n"
    )
    names.write_text("pyyaml\nevil-package\n")
    missing = _run("subset", str(lock), str(names))
    assert missing.returncode == 1
    assert "not pinned in" in missing.stderr
    assert "evil-package" in missing.stderr


def test_from_report_pins_wheels_with_their_hash_and_leaves_the_project_out(tmp_path: Path) -> None:
    report: dict[str, Any] = {
        "install": [
            {
                "metadata": {"name": "PyYAML", "version": "6.0.4"},
                "download_info": {
                    "url": "https://files.example/PyYAML-6.0.4-cp311-cp311-manylinux_2_17_x86_64.whl",
                    "archive_info": {"hashes": {"sha256": "a" * 64}},
                },
            },
            {
                "metadata": {"name": "quantops", "version": "0.1.0"},
                "download_info": {"url": "file:///work/main", "dir_info": {}},
            },
        ]
    }
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    header = tmp_path / "header"
    header.write_text("# generated\n")
    proc = _run("from-report", str(path), "--header", str(header))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"# generated\nPyYAML==6.0.4 \\\n    --hash={H1}\n"
    assert _run("closure", str(path)).stdout == "pyyaml\n"
    report["install"][0]["download_info"]["url"] = "https://files.example/PyYAML-6.0.4.tar.gz"
    path.write_text(json.dumps(report))
    sdist = _run("from-report", str(path))
    assert sdist.returncode != 0
    assert "is not a wheel" in sdist.stderr


def test_requires_reads_pyproject_sections() -> None:
    proc = _run("requires", "pyproject.toml", "build")
    assert proc.stdout.split() == ["setuptools>=68", "wheel"]
    runtime = _run("requires", "pyproject.toml", "runtime").stdout.split()
    assert "pydantic>=2.10" in runtime
    assert "pytest>=8" not in runtime


def test_lock_sh_usage() -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "lock.sh"), "--bogus"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "usage: scripts/lock.sh [--upgrade]" in proc.stderr
