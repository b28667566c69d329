"""Log rotation: the log directory never exceeds the policy bound; lines are JSON (roadmap 7)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantops_trading.config import LogRotationPolicy
from quantops_trading.ops.logrotation import configure_logging, log_files


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def test_filling_never_exceeds_the_bound(tmp_path: Path) -> None:
    policy = LogRotationPolicy(max_bytes=4096, backup_count=3, rotate_every_s=None)
    handler = configure_logging("trader-1", tmp_path, policy)
    log = logging.getLogger("quantops.test")
    for i in range(3000):
        log.info("order %d rejected: %s", i, "x" * (i % 300), extra={"pair": "BTC/USDT", "n": i})
        if i % 50 == 0:
            handler.flush()
            assert _dir_bytes(tmp_path) <= policy.disk_bound_bytes
    handler.flush()
    files = log_files(tmp_path, "trader-1")
    assert [p.name for p in files] == ["trader-1.log", "trader-1.log.1", "trader-1.log.2", "trader-1.log.3"]
    assert _dir_bytes(tmp_path) <= policy.disk_bound_bytes == 4 * 4096
    assert all(p.stat().st_size <= policy.max_bytes for p in files)
    last = json.loads((tmp_path / "trader-1.log").read_text().splitlines()[-1])
    assert last["msg"].startswith("order 2999 rejected")
    assert (last["level"], last["agent"], last["logger"], last["pair"], last["n"]) == (
        "INFO",
        "trader-1",
        "quantops.test",
        "BTC/USDT",
        2999,
    )


def test_huge_and_non_ascii_records_are_truncated_not_overflowing(tmp_path: Path) -> None:
    policy = LogRotationPolicy(max_bytes=2048, backup_count=1, rotate_every_s=None)
    handler = configure_logging("feed", tmp_path, policy)
    log = logging.getLogger("quantops.feed")
    log.warning("€" * 10_000)  # escapes to 6 bytes per char
    try:
        raise RuntimeError("boom " * 2000)
    except RuntimeError:
        log.exception("crashed")
    log.info("after")
    handler.flush()
    assert _dir_bytes(tmp_path) <= policy.disk_bound_bytes
    lines = [json.loads(line) for p in log_files(tmp_path, "feed") for line in p.read_text().splitlines()]
    truncated = [line for line in lines if line.get("truncated")]
    assert truncated
    assert all(line["original_bytes"] > policy.max_bytes for line in truncated)


def test_time_based_rotation_keeps_the_bound(tmp_path: Path) -> None:
    now = [1_000.0]
    policy = LogRotationPolicy(max_bytes=1 << 20, backup_count=2, rotate_every_s=60)
    handler = configure_logging("pipeline", tmp_path, policy, clock=lambda: now[0])
    log = logging.getLogger("quantops.pipeline")
    for minute in range(5):
        log.info("run %d", minute)
        now[0] += 61
    log.info("final")
    handler.flush()
    files = log_files(tmp_path, "pipeline")
    assert [p.name for p in files] == ["pipeline.log", "pipeline.log.1", "pipeline.log.2"]
    assert json.loads((tmp_path / "pipeline.log").read_text())["msg"] == "final"
    assert json.loads((tmp_path / "pipeline.log.1").read_text())["msg"] == "run 4"


def test_reconfiguring_replaces_only_our_handler(tmp_path: Path) -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    policy = LogRotationPolicy(max_bytes=4096, backup_count=1)
    first = configure_logging("a", tmp_path, policy)
    second = configure_logging("a", tmp_path, policy, stderr=True)
    handlers = logging.getLogger().handlers
    assert other in handlers
    assert second in handlers
    assert first not in handlers
    logging.getLogger().removeHandler(other)
    with pytest.raises(ValueError, match="plain file name"):
        configure_logging("../escape", tmp_path, policy)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    max_bytes=st.integers(1024, 8192),
    backups=st.integers(1, 4),
    sizes=st.lists(st.integers(0, 12_000), min_size=1, max_size=120),
)
def test_bound_holds_for_any_record_sizes(
    tmp_path: Path, max_bytes: int, backups: int, sizes: list[int]
) -> None:
    target = tmp_path / f"h{max_bytes}-{backups}-{len(sizes)}-{sum(sizes)}"
    policy = LogRotationPolicy(max_bytes=max_bytes, backup_count=backups, rotate_every_s=None)
    handler = configure_logging("prop", target, policy)
    log = logging.getLogger("quantops.prop")
    for n in sizes:
        log.info("y" * n)
    handler.flush()
    assert _dir_bytes(target) <= policy.disk_bound_bytes
    assert len(log_files(target, "prop")) <= backups + 1


def test_what_an_agent_prints_is_rotated_with_its_logs(tmp_path: Path) -> None:
    """capture_stdio (how every agent under `quantops up` starts): printed JSON event lines stay
    verbatim, other text and logging records become JSON lines, and the files stay bounded."""
    script = textwrap.dedent(
        f"""
        import json, logging, sys
        from pathlib import Path
        from quantops_trading.config.schema import LogRotationPolicy
        from quantops_trading.ops.logrotation import capture_stdio, configure_logging
        policy = LogRotationPolicy(max_bytes=4096, backup_count=2)
        h = configure_logging("agent-x", Path({str(tmp_path)!r}), policy)
        capture_stdio(h)
        for i in range(400):
            print(json.dumps({{"event": "tick", "i": i}}), flush=True)
        print("plain text, caf\\u00e9", file=sys.stderr)
        logging.getLogger("x").warning("a warning")
        print(json.dumps({{"event": "last"}}), end="")
        print("", flush=True)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # nothing reached the inherited stdout
    files = log_files(tmp_path, "agent-x")
    assert [f.name for f in files] == ["agent-x.log", "agent-x.log.1", "agent-x.log.2"]
    assert all(f.stat().st_size <= 4096 for f in files)
    lines = [json.loads(x) for x in (tmp_path / "agent-x.log").read_text().splitlines()]
    assert lines[-1] == {"event": "last"}
    assert {"logger": "stderr", "msg": "plain text, caf\u00e9"}.items() <= next(
        x for x in lines if x.get("logger") == "stderr"
    ).items()
    assert any(x.get("msg") == "a warning" and x.get("level") == "WARNING" for x in lines)
    assert {"event": "tick", "i": 399} in lines
