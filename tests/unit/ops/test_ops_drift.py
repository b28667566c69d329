"""Environment drift detector: readable diff and JSON for each section (roadmap 9)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from quantops_trading.config import QuantopsConfig
from quantops_trading.ops import drift
from quantops_trading.paths import repo_root


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.lock"
    path.write_text("PyYAML==6.0.4\npydantic==2.14.4\nnumpy==2.4.6\n")
    return path


def test_no_drift(lock: Path) -> None:
    installed = {
        "pyyaml": ("PyYAML", "6.0.4"),
        "pydantic": ("pydantic", "2.14.4"),
        "numpy": ("numpy", "2.4.6"),
    }
    report = drift.detect_drift(lock, None, {}, QuantopsConfig(), installed, (3, 11, 9))
    assert not report.drifted
    assert report.render() == "# drift: no drift (sections drifted: -)"


def test_package_python_and_config_drift_are_diffed(lock: Path) -> None:
    installed = {
        "pyyaml": ("PyYAML", "6.0.4"),
        "pydantic": ("pydantic", "2.9.0"),
        "left-pad": ("left-pad", "1.0"),
        "pip": ("pip", "26.0"),
    }
    actual_config = QuantopsConfig.model_validate({"trader": {"max_orders": 7}})
    report = drift.detect_drift(
        lock, None, {"trader": {"max_orders": 5}}, actual_config, installed, (3, 12, 0)
    )
    assert report.drifted
    text = report.render()
    for line in [
        "--- expected/python",
        "+++ actual/python",
        "-version 3.11",
        "+version 3.12",
        "--- expected/packages",
        "-numpy 2.4.6",
        "-pydantic 2.14.4",
        "+pydantic 2.9.0",
        "+left-pad 1.0",
        "-trader.max_orders 5",
        "+trader.max_orders 7",
    ]:
        assert line in text.splitlines(), (line, text)
    assert "pip" not in text  # tooling is not drift
    assert text.endswith("# drift: DRIFT (sections drifted: python, packages, config)")
    data = report.to_dict()
    json.dumps(data)
    packages = data["sections"]["packages"]
    assert packages["missing"] == ["numpy"]
    assert packages["unexpected"] == ["left-pad"]
    assert packages["changed"] == [{"key": "pydantic", "expected": "2.14.4", "actual": "2.9.0"}]
    assert data["sections"]["config"]["changed"] == [
        {"key": "trader.max_orders", "expected": "5", "actual": "7"}
    ]


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs a Debian host (dpkg-query)")
def test_os_packages_against_manifest(tmp_path: Path, lock: Path) -> None:
    have = drift.os_packages(["coreutils"])
    assert have is not None
    manifest = tmp_path / "os.txt"
    manifest.write_text(f"# test\ncoreutils={have['coreutils']}\ndpkg\nquantops-no-such-package\n")
    section = next(
        s for s in drift.detect_drift(lock, manifest, installed={}).sections if s.name == "os_packages"
    )
    assert section.missing == ["quantops-no-such-package"]
    assert section.changed == []
    manifest.write_text("coreutils=0.0-ancient\n")
    section = next(
        s for s in drift.detect_drift(lock, manifest, installed={}).sections if s.name == "os_packages"
    )
    assert section.changed == [{"key": "coreutils", "expected": "0.0-ancient", "actual": have["coreutils"]}]
    assert "-coreutils 0.0-ancient" in section.diff_lines()


def test_unavailable_sections_are_skipped_with_reason(tmp_path: Path) -> None:
    report = drift.detect_drift(tmp_path / "nope.lock", tmp_path / "nope.txt", None, installed={})
    skipped = {s.name: s.skipped for s in report.sections if s.skipped}
    assert set(skipped) == {"packages", "os_packages", "config"}
    assert "@@ config: skipped (no expected config given) @@" in report.render()


def test_cli_on_this_checkout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = tmp_path / "expected.yaml"
    expected.write_text("trader: {max_orders: 100}\n")
    code = drift.main(["--root", str(repo_root()), "--expected-config", str(expected), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "quantops.drift/v1"
    assert code == (1 if data["drifted"] else 0)
    assert data["sections"]["config"]["drifted"] is False
    assert drift.main(["--bogus"]) == 3
