"""Startup-file checksum manifest: current, tamper-evident, and the same from bash and Python (roadmap 10)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from quantops_trading.ops import checksums
from quantops_trading.paths import repo_root

ROOT = repo_root()


def test_committed_manifest_is_current() -> None:
    """Fails CI loudly when a startup script or the lock changed without regenerating the manifest."""
    report = checksums.verify(ROOT)
    if not report.ok:
        pytest.fail(
            report.render()
            + "\n\nA startup file (scripts/*.sh, scripts/*.py or requirements.lock) changed without updating"
            " the checksum manifest. Run `scripts/checksums.sh update` and commit scripts/CHECKSUMS.sha256.",
            pytrace=False,
        )


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "a.sh").write_text("#!/bin/sh\necho a\n")
    (root / "scripts" / "B.py").write_text("print('b')\n")
    (root / "scripts" / "notes.txt").write_text("not covered\n")
    (root / "requirements.lock").write_text("six==1.17.0\n")
    shutil.copy2(ROOT / "scripts" / "checksums.sh", root / "scripts" / "checksums.sh")
    return root


def test_bash_and_python_write_identical_manifests(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    subprocess.run([str(root / "scripts" / "checksums.sh"), "update"], check=True, capture_output=True)
    written_by_bash = (root / checksums.MANIFEST).read_text()
    assert written_by_bash == checksums.manifest_text(root)
    listed = subprocess.run(
        [str(root / "scripts" / "checksums.sh"), "list"], check=True, capture_output=True, text=True
    ).stdout.split()
    assert listed == checksums.tracked_files(root)
    assert listed == ["requirements.lock", "scripts/B.py", "scripts/a.sh", "scripts/checksums.sh"]


def test_verify_reports_changed_added_removed(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    checksums.write_manifest(root)
    assert checksums.verify(root).ok
    old = checksums.read_manifest(root / checksums.MANIFEST)["scripts/a.sh"]
    (root / "scripts" / "a.sh").write_text("#!/bin/sh\necho pwned\n")
    (root / "scripts" / "B.py").unlink()
    (root / "scripts" / "c.sh").write_text("")
    report = checksums.verify(root)
    assert not report.ok
    kinds = {d.path: (d.kind, d.expected, d.actual) for d in report.diffs}
    assert kinds["scripts/a.sh"][0] == "changed"
    assert kinds["scripts/a.sh"][1] == old
    assert kinds["scripts/B.py"][:2] == (
        "removed",
        checksums.read_manifest(root / checksums.MANIFEST)["scripts/B.py"],
    )
    assert kinds["scripts/c.sh"] == (
        "added",
        None,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    )
    text = report.render()
    assert f"changed  scripts/a.sh\n    - expected {old}" in text
    assert "scripts/checksums.sh update" in text
    # the bash verifier agrees, exit 1 with the same diff lines
    proc = subprocess.run([str(root / "scripts" / "checksums.sh"), "verify"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == text


def test_missing_manifest(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    report = checksums.verify(root)
    assert not report.ok
    assert "run scripts/checksums.sh update" in report.render()
    proc = subprocess.run([str(root / "scripts" / "checksums.sh"), "verify"], capture_output=True, text=True)
    assert proc.returncode == 2
