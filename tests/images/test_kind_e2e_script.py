"""hack/kind-e2e.sh where kind cannot run: a clear message, exit 0; non-zero only with --strict."""

from __future__ import annotations

import os
import subprocess

from .conftest import REPO

SCRIPT = REPO / "hack" / "kind-e2e.sh"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KIND": "/nonexistent/kind"}  # no kind binary, whatever this host has
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, text=True, capture_output=True, timeout=60)


def test_without_kind_it_says_so_and_exits_zero() -> None:
    res = _run()
    assert res.returncode == 0, res.stderr
    assert "CANNOT RUN HERE: no kind binary" in res.stderr
    assert "/nonexistent/kind" in res.stderr
    assert "tests/realnode/test_platform.py" in res.stderr  # where the same scenario does run
    assert "pass --strict to fail instead" in res.stderr


def test_strict_turns_cannot_run_into_a_failure() -> None:
    res = _run("--strict")
    assert res.returncode == 3, res.stderr
    assert "CANNOT RUN HERE: no kind binary" in res.stderr and "--strict: failing" in res.stderr


def test_unknown_arguments_are_a_usage_error() -> None:
    res = _run("--bogus")
    assert res.returncode == 2
    assert "unknown argument --bogus" in res.stderr and "usage: hack/kind-e2e.sh" in res.stderr
