"""Wheelhouse fallback for real: build one, then install offline into a throwaway venv (roadmap 5).

Everything stays on this machine: the "index" that builds the wheelhouse is a local find-links
directory, and the install runs with an unreachable index (127.0.0.1:9), so install.sh must fall
back to the hash-verified wheelhouse, the project's own editable install included. The lock is
hashed (--require-hashes everywhere): a pin without a hash, or a wheel whose sha256 is not the
lock's, fails the install, whichever path it came from.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from quantops_trading.paths import repo_root

REAL = repo_root()

# A tiny PEP 517 backend (no build requirements), used to build both the pinned package and the
# throwaway project, so nothing has to be downloaded.
BACKEND = """
import base64, hashlib, os, zipfile

def make_wheel(directory, name, version, files):
    dist = f"{name}-{version}.dist-info"
    files = dict(files)
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n"
    files[f"{dist}/WHEEL"] = (
        "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    )
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\\n".join(record + [f"{dist}/RECORD,,"]) + "\\n"
    fname = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, fname), "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return fname

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return make_wheel(wheel_directory, "fakeproj", "0.1.0", {"fakeproj/__init__.py": "X = 1\\n"})

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    src = os.path.abspath("src")
    return make_wheel(wheel_directory, "fakeproj", "0.1.0", {"fakeproj_editable.pth": src + "\\n"})
"""


def _backend(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("fake_backend", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "_build").mkdir()
    (repo / "src" / "fakeproj").mkdir(parents=True)
    for name in ("install.sh", "wheelhouse.sh"):
        shutil.copy2(REAL / "scripts" / name, repo / "scripts" / name)
    (repo / "_build" / "backend.py").write_text(BACKEND)
    (repo / "src" / "fakeproj" / "__init__.py").write_text("X = 'editable'\n")
    (repo / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["_build"]\n'
        '[project]\nname = "fakeproj"\nversion = "0.1.0"\n'
    )
    source = tmp_path / "source-index"
    source.mkdir()
    backend = _backend(repo / "_build" / "backend.py")
    backend.make_wheel(
        str(source), "quantops_tinypkg", "1.2.3", {"quantops_tinypkg.py": "VERSION = '1.2.3'\n"}
    )
    backend.make_wheel(str(source), "quantops_tinypkg", "9.9.9", {"quantops_tinypkg.py": "VERSION = 'bad'\n"})
    digest = _sha256(source / "quantops_tinypkg-1.2.3-py3-none-any.whl")
    lock = f"# pinned\nquantops-tinypkg==1.2.3 \\\n    --hash=sha256:{digest}\n"
    (repo / "requirements.lock").write_text(lock)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "QUANTOPS_", "VIRTUAL_ENV"))}
    env.update(
        QUANTOPS_CACHE=str(tmp_path / "cache"),
        QUANTOPS_WHEELHOUSE_PYTHON=str(REAL / ".venv" / "bin" / "python"),
        PIP_CACHE_DIR=str(tmp_path / "pip-cache"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PATH=os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p),
    )
    return repo, source, env


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sh(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=240, check=False)


def _build_wheelhouse(repo: Path, source: Path, env: dict[str, str]) -> Path:
    build_env = {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(source)}
    proc = _sh([str(repo / "scripts" / "wheelhouse.sh")], build_env, repo)
    assert proc.returncode == 0, proc.stderr
    return Path(env["QUANTOPS_CACHE"]) / "wheelhouse"


def _offline(env: dict[str, str]) -> dict[str, str]:
    return {**env, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0", "PIP_TIMEOUT": "2"}


@pytest.mark.slow
def test_install_falls_back_to_verified_wheelhouse(setup: tuple[Path, Path, dict[str, str]]) -> None:
    repo, source, env = setup
    wheelhouse = _build_wheelhouse(repo, source, env)
    sums = (wheelhouse / "SHA256SUMS").read_text().split()
    assert sums[1::2] == ["quantops_tinypkg-1.2.3-py3-none-any.whl"]  # the pin only, hashed
    proc = _sh([str(repo / "scripts" / "install.sh")], _offline(env), repo)
    assert proc.returncode == 0, proc.stderr
    assert "pip install from the index failed; trying the wheelhouse" in proc.stderr
    check = _sh(
        [
            str(repo / ".venv" / "bin" / "python"),
            "-c",
            "import quantops_tinypkg, fakeproj; print(quantops_tinypkg.VERSION, fakeproj.X)",
        ],
        env,
        repo,
    )
    assert check.stdout.split() == ["1.2.3", "editable"], check.stderr


@pytest.mark.slow
def test_tampered_or_unlisted_wheel_is_refused(setup: tuple[Path, Path, dict[str, str]]) -> None:
    repo, source, env = setup
    wheelhouse = _build_wheelhouse(repo, source, env)
    wheel = wheelhouse / "quantops_tinypkg-1.2.3-py3-none-any.whl"
    good = wheel.read_bytes()
    wheel.write_bytes(good + b"\0")
    proc = _sh([str(repo / "scripts" / "install.sh")], _offline(env), repo)
    assert proc.returncode == 1
    assert "wheelhouse hash check failed" in proc.stderr
    wheel.write_bytes(good)
    shutil.copy2(source / "quantops_tinypkg-9.9.9-py3-none-any.whl", wheelhouse)
    proc = _sh([str(repo / "scripts" / "install.sh")], _offline(env), repo)
    assert proc.returncode == 1
    assert "not in SHA256SUMS: quantops_tinypkg-9.9.9-py3-none-any.whl" in proc.stderr


def _evil_wheel(repo: Path, directory: Path) -> Path:
    """A wheel with the pinned name and version but other contents (what a tampered mirror serves)."""
    directory.mkdir(exist_ok=True)
    name = _backend(repo / "_build" / "backend.py").make_wheel(
        str(directory), "quantops_tinypkg", "1.2.3", {"quantops_tinypkg.py": "VERSION = 'evil'\n"}
    )
    return directory / name


def _imports_tinypkg(repo: Path, env: dict[str, str]) -> bool:
    python = repo / ".venv" / "bin" / "python"
    return python.exists() and _sh([str(python), "-c", "import quantops_tinypkg"], env, repo).returncode == 0


@pytest.mark.slow
def test_lock_pin_without_hash_is_refused(setup: tuple[Path, Path, dict[str, str]]) -> None:
    """The old, unhashed lock format: refused by the index path, the wheelhouse path and the builder."""
    repo, source, env = setup
    _build_wheelhouse(repo, source, env)  # from the hashed lock: the wheel itself is the right one
    (repo / "requirements.lock").write_text("quantops-tinypkg==1.2.3\n")
    online = {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(source)}
    proc = _sh([str(repo / "scripts" / "install.sh")], online, repo)
    assert proc.returncode == 1
    # both attempts (the "index", then the wheelhouse) refuse the pin that has no hash
    assert proc.stderr.count("Hashes are required in --require-hashes mode") == 2, proc.stderr
    assert "installing from the wheelhouse failed" in proc.stderr
    assert not _imports_tinypkg(repo, env)
    build = _sh([str(repo / "scripts" / "wheelhouse.sh")], online, repo)
    assert build.returncode == 1
    assert "Hashes are required in --require-hashes mode" in build.stderr


@pytest.mark.slow
def test_wheel_not_matching_the_lock_is_refused(
    setup: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    """A tampered wheel whose SHA256SUMS was rewritten to match passes the wheelhouse's own check;
    the lock's hash still refuses it. The same for a tampered index."""
    repo, source, env = setup
    wheelhouse = _build_wheelhouse(repo, source, env)
    evil = _evil_wheel(repo, tmp_path / "evil")
    shutil.copy2(evil, wheelhouse / evil.name)
    (wheelhouse / "SHA256SUMS").write_text(f"{_sha256(evil)}  {evil.name}\n")
    proc = _sh([str(repo / "scripts" / "install.sh")], _offline(env), repo)
    assert proc.returncode == 1
    assert "trying the wheelhouse" in proc.stderr
    assert "wheelhouse hash check failed" not in proc.stderr  # SHA256SUMS was forged to match
    assert "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE" in proc.stderr
    assert _sha256(evil) in proc.stderr  # pip names the hash it got
    assert "installing from the wheelhouse failed" in proc.stderr
    assert not _imports_tinypkg(repo, env)
    # a tampered "index" (mirror) and no wheelhouse: refused as well
    shutil.rmtree(wheelhouse)
    tampered_index = {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(evil.parent)}
    proc = _sh([str(repo / "scripts" / "install.sh")], tampered_index, repo)
    assert proc.returncode == 1
    assert "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE" in proc.stderr
    assert "no wheelhouse at" in proc.stderr
    assert not _imports_tinypkg(repo, env)
    # and the builder refuses to put the tampered wheel in a new wheelhouse
    build = _sh([str(repo / "scripts" / "wheelhouse.sh")], tampered_index, repo)
    assert build.returncode == 1
    assert "DO NOT MATCH THE HASHES" in build.stderr
    assert not wheelhouse.exists()


def test_wheelhouse_usage(tmp_path: Path) -> None:
    proc = _sh([str(REAL / "scripts" / "wheelhouse.sh"), "--bogus"], dict(os.environ), tmp_path)
    assert proc.returncode == 2
    assert "usage: scripts/wheelhouse.sh" in proc.stderr
