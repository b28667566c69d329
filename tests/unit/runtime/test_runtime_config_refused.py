"""Agent start refuses a bad spec.config before any work starts: exit 2, the field named, a
``config_invalid`` event and an ``AgentConfigInvalid`` audit record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from quantops_trading.runtime import __main__ as agent_main
from quantops_trading.runtime.roles import work_for


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, role: str, file: dict[str, Any]) -> int:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(file))
    monkeypatch.setenv("QUANTOPS_STATE_DIR", str(tmp_path / "state"))
    started: list[str] = []

    class Runtime:  # if validation let it through, the runtime would start: recorded, not served
        def __init__(self, **kw: Any) -> None:
            started.append(kw["name"])

        async def run(self) -> int:
            return 0

    monkeypatch.setattr(agent_main, "AgentRuntime", Runtime)
    rc = agent_main.main(
        [role, "--agent", "a1", "--control", "http://127.0.0.1:9", "--config", str(cfg), "--port", "0"]
    )
    assert started == ([] if rc else ["a1"])
    return rc


def test_agent_start_refuses_a_misspelt_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = _run(tmp_path, monkeypatch, "supervisor", {"config": {"dashbordPort": 8765}})
    assert rc == 2
    out = capsys.readouterr()
    why = "spec.config.dashbordPort: unknown key for role supervisor (did you mean 'dashboardPort'?)"
    assert why in out.err
    event = json.loads(out.out.strip().splitlines()[-1])
    assert event == {"event": "config_invalid", "agent": "a1", "role": "supervisor", "error": why}
    audit = [json.loads(x) for x in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["event"] == "AgentConfigInvalid" and audit[-1]["error"] == why


def test_agent_start_refuses_a_nested_key_and_a_bad_file_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, monkeypatch, "pipeline", {"config": {"flags": {"fesRate": 0.001}}}) == 2
    assert "spec.config.flags.fesRate: unknown key for role pipeline (did you mean 'feeRate'?)" in (
        capsys.readouterr().err
    )
    assert _run(tmp_path, monkeypatch, "feed", {"heartbeatSecond": 1}) == 2
    assert "heartbeatSecond" in capsys.readouterr().err


def test_a_good_config_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        _run(tmp_path, monkeypatch, "supervisor", {"heartbeatSeconds": 1, "config": {"pollSeconds": 1}}) == 0
    )


def test_work_for_refuses_before_building_the_work() -> None:
    with pytest.raises(SystemExit, match=r"spec\.config\.health\.p99LimitSecs: unknown key for role trader"):
        work_for("trader", {"health": {"p99LimitSecs": 1}})
    with pytest.raises(SystemExit, match=r"spec\.config\.venue: required"):
        work_for("venue-sim", {})
    with pytest.raises(SystemExit, match=r"spec\.config\.symbol: Input should be a valid string"):
        work_for("canary", {"symbol": 5})
