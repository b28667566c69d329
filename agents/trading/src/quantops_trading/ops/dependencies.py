"""Dependency check at bootstrap: Python and installed distributions vs requirements.lock (roadmap 2).

Why it exists: an agent that starts on a half-installed venv fails later and far from the cause
(an ImportError inside a feed, a numpy ABI mismatch in a backtest). This module compares what is
installed (``importlib.metadata``) with the pins in ``requirements.lock`` and reports every missing
or mismatched distribution, plus whether the core import names can be found, with versions.

What it must not do: import the packages it checks (importing numba or polars takes seconds and can
crash); it only reads metadata and ``importlib.util.find_spec``. It never installs anything either:
that is scripts/install.sh's job.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "CORE_MODULES",
    "REQUIRED_PYTHON",
    "DependencyReport",
    "ModuleStatus",
    "PackageStatus",
    "check_dependencies",
    "installed_distributions",
    "normalise_name",
    "parse_lock",
]

REQUIRED_PYTHON = (3, 11)
"""pyproject.toml says ``requires-python = ">=3.11,<3.12"``."""

CORE_MODULES: Mapping[str, str] = {
    "pydantic": "pydantic",
    "yaml": "PyYAML",
    "httpx": "httpx",
    "aiohttp": "aiohttp",
    "numpy": "numpy",
    "polars": "polars",
    "ccxt": "ccxt",
    "prometheus_client": "prometheus_client",
}
"""Import name -> distribution name of the modules every agent needs to start."""

PackageState = Literal["ok", "missing", "mismatch"]
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def normalise_name(name: str) -> str:
    """PEP 503 normalisation: ``PyYAML``, ``pyyaml`` and ``py_yaml`` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> dict[str, tuple[str, str]]:
    """``requirements.lock`` text -> {normalised name: (name as written, pinned version)}.

    Only ``name==version`` lines are pins; comments, blank lines, ``-e`` and option lines are skipped.
    """
    pins: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[normalise_name(match.group(1))] = (match.group(1), match.group(2))
    return pins


def installed_distributions(paths: Sequence[str] | None = None) -> dict[str, tuple[str, str]]:
    """{normalised name: (name, version)} of the distributions importable from ``paths`` (sys.path)."""
    found: dict[str, tuple[str, str]] = {}
    for dist in md.distributions(path=list(paths) if paths is not None else sys.path):
        name = dist.metadata["Name"]
        if name and normalise_name(name) not in found:  # first on the path wins, as for imports
            found[normalise_name(name)] = (name, dist.version)
    return found


@dataclass(frozen=True)
class PackageStatus:
    name: str
    pinned: str
    installed: str | None
    state: PackageState


@dataclass(frozen=True)
class ModuleStatus:
    module: str
    distribution: str
    found: bool
    version: str | None


@dataclass(frozen=True)
class DependencyReport:
    python_version: str
    python_required: str
    python_ok: bool
    packages: tuple[PackageStatus, ...]
    modules: tuple[ModuleStatus, ...]
    lock_path: str | None = None
    errors: tuple[str, ...] = field(default=())

    @property
    def missing(self) -> list[PackageStatus]:
        return [p for p in self.packages if p.state == "missing"]

    @property
    def mismatched(self) -> list[PackageStatus]:
        return [p for p in self.packages if p.state == "mismatch"]

    @property
    def missing_modules(self) -> list[ModuleStatus]:
        return [m for m in self.modules if not m.found]

    @property
    def ok(self) -> bool:
        return self.python_ok and not (self.missing or self.mismatched or self.missing_modules or self.errors)

    def problems(self) -> list[str]:
        """One human line per problem, in a stable order."""
        out = list(self.errors)
        if not self.python_ok:
            out.append(f"python {self.python_version} does not satisfy {self.python_required}")
        out += [
            f"module {m.module} (distribution {m.distribution}) not importable" for m in self.missing_modules
        ]
        out += [f"missing {p.name}=={p.pinned}" for p in self.missing]
        out += [f"mismatch {p.name}: installed {p.installed}, pinned {p.pinned}" for p in self.mismatched]
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["problems"] = self.problems()
        data["packages"] = [asdict(p) for p in self.packages if p.state != "ok"]
        data["packages_checked"] = len(self.packages)
        return data


def _python_ok(version: tuple[int, int]) -> bool:
    return version == REQUIRED_PYTHON


def check_dependencies(
    lock_path: Path | None,
    installed: Mapping[str, tuple[str, str]] | None = None,
    core_modules: Mapping[str, str] = CORE_MODULES,
    python_version: tuple[int, int, int] | None = None,
    ignore: Iterable[str] = (),
) -> DependencyReport:
    """Compare installed distributions with the lock pins and look up the core modules.

    ``installed`` defaults to what this interpreter sees; ``ignore`` lists distributions not to check
    (e.g. platform-only pins). A missing lock file is reported as an error, never as "all fine".
    """
    py = python_version or (sys.version_info[0], sys.version_info[1], sys.version_info[2])
    have = installed_distributions() if installed is None else installed
    errors: list[str] = []
    pins: dict[str, tuple[str, str]] = {}
    if lock_path is not None:
        try:
            pins = parse_lock(lock_path.read_text(encoding="utf-8"))
        except OSError as exc:
            errors.append(f"cannot read lock file {lock_path}: {exc.strerror or exc}")
        else:
            if not pins:
                errors.append(f"lock file {lock_path} has no name==version pins")
    skip = {normalise_name(n) for n in ignore}
    packages = []
    for key in sorted(pins):
        if key in skip:
            continue
        name, pinned = pins[key]
        current = have.get(key)
        state: PackageState = "missing" if current is None else ("ok" if current[1] == pinned else "mismatch")
        packages.append(PackageStatus(name, pinned, current[1] if current else None, state))
    modules = []
    for module, dist in core_modules.items():
        found = importlib.util.find_spec(module) is not None
        version = have.get(normalise_name(dist), (dist, None))[1]
        modules.append(ModuleStatus(module, dist, found, version if found else None))
    required = f"=={REQUIRED_PYTHON[0]}.{REQUIRED_PYTHON[1]}.*"
    return DependencyReport(
        python_version=".".join(map(str, py)),
        python_required=required,
        python_ok=_python_ok((py[0], py[1])),
        packages=tuple(packages),
        modules=tuple(modules),
        lock_path=str(lock_path) if lock_path else None,
        errors=tuple(errors),
    )
