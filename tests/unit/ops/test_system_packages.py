"""Every Debian command the scripts call is installed by the scripts — never assumed.

A fresh machine failed the README's test command at `debootstrap is not installed`: no script
installed it, every machine it had passed on had it by hand. Two checks keep that from returning:
the installer asks apt for exactly the packages whose commands are missing (run against a PATH
without them and a recording apt-get), and every external command the scripts invoke is either
in its list or part of Debian's required base (checked with dpkg on this machine).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "system-packages.sh"


def listed() -> dict[str, str]:
    out = subprocess.run(["bash", str(SCRIPT), "--list"], check=True, capture_output=True, text=True)
    return {cmd: pkg for _, cmd, pkg in (line.split() for line in out.stdout.splitlines())}


def test_the_installer_asks_apt_for_exactly_the_missing_packages(tmp_path: Path) -> None:
    """On a PATH with none of the commands, a recording apt-get is asked for every package once."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "awk", "sort", "grep", "flock", "id", "cat", "mkdir", "env"):
        src = shutil.which(tool)
        assert src, tool
        (bin_dir / tool).symlink_to(src)
    calls = tmp_path / "apt-calls"
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "apt-get").chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    res = subprocess.run(
        [str(bin_dir / "bash"), str(SCRIPT), "images", "browser", "tools"],
        env=env,
        capture_output=True,
        text=True,
    )
    # the recording apt-get installs nothing, so the script must then fail naming what is missing
    assert res.returncode == 1, res.stderr
    assert "still missing after install" in res.stderr
    install = [line for line in calls.read_text().splitlines() if line.startswith("install")]
    assert len(install) == 1
    asked = set(install[0].split()[3:])  # "install -y -qq pkg..."
    want = {p for c, p in listed().items() if c in ("debootstrap", "dockerd", "chromium", "curl")}
    assert want <= asked, asked
    assert "containerd" not in asked  # the node group was not asked for


def _invoked_commands() -> set[str]:
    """External commands the setup scripts call: `command -v X`, and the first word of shell lines
    or subprocess argument lists in hack/ and scripts/."""
    found: set[str] = set()
    for path in [*REPO.glob("scripts/*.sh"), *REPO.glob("hack/*.sh")]:
        if path == SCRIPT:
            continue  # its table names commands, it does not call them
        text = path.read_text()
        found |= {m[1] for m in re.findall(r"command -v (\"?)([a-z][\w.-]+)\1", text)}
        for line in text.splitlines():
            line = line.strip()
            m = re.match(r"^(?:if !? ?|\(|exec )?([a-z][a-z0-9.-]+)\s", line)
            if m:
                found.add(m.group(1))
    for path in REPO.glob("hack/*.py"):
        found |= set(re.findall(r'\[\s*"([a-z][a-z0-9.-]+)",', path.read_text()))
    return found


def _debian_package_of(cmd: str) -> tuple[str, str] | None:
    """(package, priority) of the installed command, None when not installed by dpkg."""
    path = shutil.which(cmd)
    if path is None:
        return None
    real = os.path.realpath(path)
    for candidate in dict.fromkeys([path, real, real.replace("/usr/", "/", 1)]):
        res = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if res.returncode == 0:
            pkg = res.stdout.split(":")[0].strip()
            prio = subprocess.run(
                ["dpkg-query", "-W", "-f=${Priority}", pkg], capture_output=True, text=True
            ).stdout.strip()
            return pkg, prio
    return None


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs a Debian host (dpkg)")
def test_every_debian_command_the_scripts_call_is_in_the_installers_list() -> None:
    mine = set(listed().values())
    missing = []
    for cmd in sorted(_invoked_commands()):
        owner = _debian_package_of(cmd)
        if owner is None:
            continue  # a shell keyword, a function, or a tool the project builds itself (go, kubelet)
        pkg, prio = owner
        if prio in ("required", "important") or pkg in mine:
            continue
        missing.append(f"{cmd} (Debian package {pkg}, priority {prio})")
    assert not missing, f"called by the scripts but installed by none of them: {missing}"
