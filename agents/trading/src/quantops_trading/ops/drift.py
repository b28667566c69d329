"""Environment drift detector with a diff report (roadmap 9).

Why it exists: "it worked yesterday" on an agent host is usually a silent change: a package
upgraded by hand, an OS library updated, a config key edited in place. This module compares the
running environment with what the repository expects, section by section:

* ``python``: the interpreter version vs the required minor (3.11),
* ``packages``: installed distributions vs ``requirements.lock`` pins (and unexpected extras),
* ``os_packages``: ``dpkg-query`` versions vs an expected manifest (``name`` or ``name=version``),
* ``config``: the effective config vs an expected config (YAML), key path by key path,

and renders a readable unified-diff-like report (``-`` expected, ``+`` actual) and JSON
(``quantops.drift/v1``).

What it must not do: fix the drift or scan the whole OS. It only queries the OS packages the manifest
names, and a section it cannot evaluate says ``skipped`` with the reason.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from quantops_trading.config import ConfigError, QuantopsConfig, load_config
from quantops_trading.ops.dependencies import REQUIRED_PYTHON, installed_distributions, parse_lock
from quantops_trading.paths import repo_root

__all__ = [
    "DEFAULT_OS_MANIFEST",
    "DriftReport",
    "SectionDrift",
    "detect_drift",
    "diff_section",
    "flatten",
    "main",
    "os_packages",
]

SCHEMA = "quantops.drift/v1"
DEFAULT_OS_MANIFEST = Path(__file__).with_name("expected_os_packages.txt")
_NOT_EXPECTED_EXTRAS = {"pip", "setuptools", "wheel", "quantops"}


@dataclass(frozen=True)
class SectionDrift:
    name: str
    expected: dict[str, str]
    actual: dict[str, str]
    skipped: str | None = None

    @property
    def missing(self) -> list[str]:
        return sorted(k for k in self.expected if k not in self.actual)

    @property
    def unexpected(self) -> list[str]:
        return sorted(k for k in self.actual if k not in self.expected)

    @property
    def changed(self) -> list[dict[str, str]]:
        keys = sorted(k for k in self.expected if k in self.actual and self.expected[k] != self.actual[k])
        return [{"key": k, "expected": self.expected[k], "actual": self.actual[k]} for k in keys]

    @property
    def drifted(self) -> bool:
        return self.skipped is None and bool(self.missing or self.unexpected or self.changed)

    def diff_lines(self) -> list[str]:
        if self.skipped:
            return [f"@@ {self.name}: skipped ({self.skipped}) @@"]
        if not self.drifted:
            return []
        exp = [f"{k} {v}\n" for k, v in sorted(self.expected.items())]
        act = [f"{k} {v}\n" for k, v in sorted(self.actual.items())]
        body = list(difflib.unified_diff(exp, act, f"expected/{self.name}", f"actual/{self.name}", n=0))
        return [line.rstrip("\n") for line in body]

    def to_dict(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "skipped": self.skipped,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "changed": self.changed,
        }


@dataclass(frozen=True)
class DriftReport:
    sections: tuple[SectionDrift, ...] = field(default=())

    @property
    def drifted(self) -> bool:
        return any(s.drifted for s in self.sections)

    def render(self) -> str:
        lines = [line for s in self.sections for line in s.diff_lines()]
        verdict = "DRIFT" if self.drifted else "no drift"
        names = ", ".join(s.name for s in self.sections if s.drifted) or "-"
        return "\n".join([*lines, f"# drift: {verdict} (sections drifted: {names})"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "drifted": self.drifted,
            "sections": {s.name: s.to_dict() for s in self.sections},
        }


def diff_section(name: str, expected: Mapping[str, str], actual: Mapping[str, str]) -> SectionDrift:
    return SectionDrift(name, dict(expected), dict(actual))


def flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    """Nested mappings -> {"a.b.c": json(value)}; lists are leaves."""
    if isinstance(tree, Mapping):
        out: dict[str, str] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: json.dumps(tree, sort_keys=True, default=str)}


def os_packages(names: Sequence[str]) -> dict[str, str] | None:
    """{name: version} of the installed dpkg packages among ``names``; None when dpkg-query is absent."""
    if shutil.which("dpkg-query") is None:
        return None
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${Version}\t${db:Status-Status}\n", *names],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    found = {}
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2] == "installed":
            found[parts[0].split(":")[0]] = parts[1]
    return found


def _os_section(manifest: Path) -> SectionDrift:
    try:
        lines = [ln.strip() for ln in manifest.read_text().splitlines()]
    except OSError as exc:
        return SectionDrift("os_packages", {}, {}, skipped=f"no manifest {manifest}: {exc.strerror}")
    wanted = dict(ln.partition("=")[::2] for ln in lines if ln and not ln.startswith("#"))
    have = os_packages(sorted(wanted))
    if have is None:
        return SectionDrift("os_packages", {}, {}, skipped="dpkg-query not available")
    expected = {n: (v or "installed") for n, v in wanted.items()}
    actual = {n: (have[n] if wanted[n] else "installed") for n in wanted if n in have}
    return SectionDrift("os_packages", expected, actual)


def detect_drift(
    lock_path: Path,
    os_manifest: Path | None = DEFAULT_OS_MANIFEST,
    expected_config: Mapping[str, Any] | None = None,
    actual_config: QuantopsConfig | None = None,
    installed: Mapping[str, tuple[str, str]] | None = None,
    python_version: tuple[int, int, int] | None = None,
) -> DriftReport:
    """Compare the environment with the expectations; each argument can be injected for tests."""
    py = python_version or (sys.version_info[0], sys.version_info[1], sys.version_info[2])
    want_py = f"{REQUIRED_PYTHON[0]}.{REQUIRED_PYTHON[1]}"
    sections = [diff_section("python", {"version": want_py}, {"version": f"{py[0]}.{py[1]}"})]
    have = installed_distributions() if installed is None else installed
    try:
        pins = parse_lock(lock_path.read_text(encoding="utf-8"))
    except OSError as exc:
        sections.append(SectionDrift("packages", {}, {}, skipped=f"cannot read {lock_path}: {exc.strerror}"))
    else:
        expected = dict(pins.values())
        actual = {pins[k][0]: v for k, (_n, v) in have.items() if k in pins}
        actual.update({n: v for k, (n, v) in have.items() if k not in pins and k not in _NOT_EXPECTED_EXTRAS})
        sections.append(diff_section("packages", expected, actual))
    if os_manifest is not None:
        sections.append(_os_section(os_manifest))
    if expected_config is None:
        sections.append(SectionDrift("config", {}, {}, skipped="no expected config given"))
    else:
        current = (actual_config or QuantopsConfig()).model_dump(mode="json")
        want = flatten(QuantopsConfig.model_validate(expected_config).model_dump(mode="json"))
        sections.append(diff_section("config", want, flatten(current)))
    return DriftReport(tuple(sections))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m quantops_trading.ops drift``: exit 0 no drift, 1 drift, 2 error, 3 usage."""
    parser = argparse.ArgumentParser(prog="quantops_trading.ops drift", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=repo_root())
    parser.add_argument("--os-manifest", type=Path, default=DEFAULT_OS_MANIFEST)
    parser.add_argument("--expected-config", type=Path, help="YAML of the expected effective config")
    parser.add_argument("--config", type=Path, action="append", help="config file(s) of this host")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the diff")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 3
    try:
        expected = yaml.safe_load(args.expected_config.read_text()) if args.expected_config else None
        actual: QuantopsConfig = load_config(files=args.config).config
        report = detect_drift(args.root / "requirements.lock", args.os_manifest, expected, actual)
    except (OSError, ConfigError, ValueError, yaml.YAMLError) as exc:
        print(f"drift: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    return 1 if report.drifted else 0
