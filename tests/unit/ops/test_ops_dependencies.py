"""Dependency check: installed distributions vs requirements.lock pins (roadmap 2)."""

from __future__ import annotations

import sys
from pathlib import Path

from quantops_trading.ops.dependencies import (
    check_dependencies,
    installed_distributions,
    normalise_name,
    parse_lock,
)
from quantops_trading.paths import repo_root

LOCK = (
    "# comment\nPyYAML==6.0.4\npydantic==2.14.4\n"
    "zlib-ng==1.0.0 ; sys_platform == 'linux'\n-e .\n\nnumpy==2.4.6\n"
)


def test_parse_lock_reads_only_pins() -> None:
    pins = parse_lock(LOCK)
    assert pins == {
        "pyyaml": ("PyYAML", "6.0.4"),
        "pydantic": ("pydantic", "2.14.4"),
        "zlib-ng": ("zlib-ng", "1.0.0"),
        "numpy": ("numpy", "2.4.6"),
    }
    assert normalise_name("Typing_Extensions") == normalise_name("typing.extensions") == "typing-extensions"


def test_missing_and_mismatched_are_reported(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(LOCK)
    installed = {
        "pyyaml": ("PyYAML", "6.0.4"),
        "pydantic": ("pydantic", "2.9.0"),
        "zlib-ng": ("zlib-ng", "1.0.0"),
    }
    report = check_dependencies(lock, installed=installed, core_modules={}, python_version=(3, 11, 7))
    assert not report.ok
    assert [p.name for p in report.missing] == ["numpy"]
    assert [(p.name, p.installed, p.pinned) for p in report.mismatched] == [("pydantic", "2.9.0", "2.14.4")]
    assert report.problems() == ["missing numpy==2.4.6", "mismatch pydantic: installed 2.9.0, pinned 2.14.4"]
    data = report.to_dict()
    assert data["packages_checked"] == 4
    assert len(data["packages"]) == 2


def test_wrong_python_and_missing_module_fail(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("PyYAML==6.0.4\n")
    report = check_dependencies(
        lock,
        installed={"pyyaml": ("PyYAML", "6.0.4")},
        core_modules={"yaml": "PyYAML", "quantops_no_such_module": "nothing"},
        python_version=(3, 12, 1),
    )
    assert not report.python_ok
    assert report.problems() == [
        "python 3.12.1 does not satisfy ==3.11.*",
        "module quantops_no_such_module (distribution nothing) not importable",
    ]
    found = {m.module: m for m in report.modules}
    assert found["yaml"].found
    assert found["yaml"].version == "6.0.4"


def test_missing_lock_is_an_error_not_ok(tmp_path: Path) -> None:
    report = check_dependencies(tmp_path / "nope.lock", installed={}, core_modules={})
    assert not report.ok
    assert report.problems()[0].startswith("cannot read lock file")


def test_real_venv_matches_the_committed_lock() -> None:
    """The check against this interpreter: proves the real metadata path works end to end."""
    installed = installed_distributions()
    assert "pydantic" in installed
    assert "pyyaml" in installed
    report = check_dependencies(repo_root() / "requirements.lock", core_modules={"yaml": "PyYAML"})
    assert report.python_version.startswith(f"{sys.version_info[0]}.{sys.version_info[1]}.")
    pydantic = next(p for p in report.packages if p.name == "pydantic")
    assert pydantic.installed == installed["pydantic"][1]
    assert pydantic.state == ("ok" if pydantic.installed == pydantic.pinned else "mismatch")
