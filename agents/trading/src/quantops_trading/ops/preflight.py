"""Health preflight with a machine-readable verdict (roadmap 6).

Why it exists: the bootstrap, the operator's init container and a human on call all need the same
answer to "can this host run an agent now?", as JSON a program can act on. Each check returns
``ok | warn | fail | skipped`` with a one-line summary and details; the overall status is the worst
non-skipped one. Exit codes: 0 all ok (skips allowed, they are listed), 1 warnings, 2 failures,
3 usage error. The schema is documented in docs/operations.md (``quantops.preflight/v1``).

What it must not do: fix anything, or report "ok" for a check it could not run: a check that has
nothing to check says ``skipped`` with the reason, and a crash in a check is a ``fail``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from quantops_trading.config import ConfigError, LoadedConfig, QuantopsConfig, load_config
from quantops_trading.ops import checksums
from quantops_trading.ops.dependencies import check_dependencies
from quantops_trading.ops.host import HostCheck, check_clock, check_disk
from quantops_trading.ops.kubeapi import check_kubernetes_api
from quantops_trading.ops.network import check_configured
from quantops_trading.paths import repo_root, state_dir

__all__ = ["CHECK_NAMES", "EXIT_CODES", "SCHEMA", "PreflightReport", "main", "run_preflight"]

SCHEMA = "quantops.preflight/v1"
CHECK_NAMES = ("python", "dependencies", "checksums", "config", "disk", "network", "clock", "kubernetes")
EXIT_CODES = {"ok": 0, "warn": 1, "fail": 2}
EXIT_USAGE = 3
_RANK = {"skipped": -1, "ok": 0, "warn": 1, "fail": 2}


@dataclass
class PreflightReport:
    root: str
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def add(self, name: str, check: HostCheck, elapsed_ms: float) -> None:
        self.checks[name] = {
            "status": check.status,
            "summary": check.summary,
            "details": check.details,
            "duration_ms": round(elapsed_ms, 2),
        }

    @property
    def status(self) -> str:
        worst = max((c["status"] for c in self.checks.values()), key=_RANK.__getitem__, default="ok")
        return "ok" if worst == "skipped" else worst

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        counts = {s: sum(c["status"] == s for c in self.checks.values()) for s in _RANK}
        return {
            "schema": SCHEMA,
            "status": self.status,
            "exit_code": self.exit_code,
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "hostname": socket.gethostname(),
            "root": self.root,
            "duration_ms": round((time.monotonic() - self.started) * 1000, 2),
            "counts": counts,
            "checks": self.checks,
        }


def _python_check(report: Any) -> HostCheck:
    details = {
        "version": report.python_version,
        "required": report.python_required,
        "executable": sys.executable,
    }
    if report.python_ok:
        return HostCheck("ok", f"python {report.python_version}", details)
    return HostCheck(
        "fail", f"python {report.python_version} does not satisfy {report.python_required}", details
    )


def _dependency_check(report: Any) -> HostCheck:
    data = report.to_dict()
    details = {k: data[k] for k in ("lock_path", "packages_checked", "packages", "problems")}
    details["modules"] = {m.module: m.version for m in report.modules}
    if report.errors or report.missing or report.missing_modules:
        return HostCheck("fail", "; ".join(report.problems()[:5]), details)
    if report.mismatched:
        return HostCheck("warn", f"{len(report.mismatched)} version mismatch(es) vs lock", details)
    return HostCheck("ok", f"{data['packages_checked']} pinned distributions match the lock", details)


def run_preflight(
    root: Path,
    config_files: Sequence[Path] | None = None,
    kubernetes_config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    only: Sequence[str] = CHECK_NAMES,
    home: Path | None = None,
) -> PreflightReport:
    """Run the selected checks in a fixed order and return the report (never raises for a check)."""
    environ = os.environ if env is None else env
    report = PreflightReport(root=str(root))
    config = QuantopsConfig()  # defaults when the configured one is invalid (reported as a failure)
    state: dict[str, Any] = {}

    def run(name: str, fn: Callable[[], HostCheck]) -> None:
        if name not in only:
            return
        start = time.monotonic()
        try:
            result = fn()
        except Exception as exc:  # a crashing check is a failure with its reason, never a pass
            result = HostCheck("fail", f"check crashed: {type(exc).__name__}: {exc}", {})
        report.add(name, result, (time.monotonic() - start) * 1000)

    deps = check_dependencies(root / "requirements.lock")
    run("python", lambda: _python_check(deps))
    run("dependencies", lambda: _dependency_check(deps))

    def _checksums() -> HostCheck:
        result = checksums.verify(root)
        details = {
            "manifest": result.manifest,
            "checked": result.checked,
            "diffs": [vars(d) for d in result.diffs],
        }
        if result.ok:
            return HostCheck("ok", f"{result.checked} startup files match {result.manifest}", details)
        changes = ", ".join(f"{d.kind} {d.path}" for d in result.diffs) or str(result.error)
        return HostCheck("fail", f"{changes} (if intended: {checksums.UPDATE_COMMAND})", details)

    run("checksums", _checksums)

    # the config is loaded whatever the selection: disk, network and API checks read it
    try:
        loaded: LoadedConfig[QuantopsConfig] = load_config(
            files=config_files, kubernetes=kubernetes_config, env=environ
        )
        config, config_check = (
            loaded.config,
            HostCheck(
                "ok", f"config valid ({len(loaded.sources)} key(s) set)", {"sources": dict(loaded.sources)}
            ),
        )
    except ConfigError as exc:
        summary = f"{len(exc.problems)} config error(s): {exc.problems[0]}"
        config_check = HostCheck("fail", summary, {"problems": list(exc.problems)})

    def _config() -> HostCheck:
        return config_check

    run("config", _config)

    def _disk() -> HostCheck:
        log_dir = config.agent.log_dir or state_dir() / "logs"
        return check_disk([state_dir(), log_dir], config.preflight)

    run("disk", _disk)

    def _network() -> HostCheck:
        if not config.network.venues:
            return HostCheck("skipped", "skipped: not configured (network.venues is empty)", {})
        result = check_configured(config.network)
        state["skews"] = [v.clock_skew_s for v in result.venues if v.clock_skew_s is not None]
        return HostCheck(
            "ok" if result.go else "fail", f"{result.verdict}: {result.reason}", result.to_dict()
        )

    run("network", _network)
    run("clock", lambda: check_clock(config.preflight, state.get("skews", ())))
    run(
        "kubernetes",
        lambda: check_kubernetes_api(
            config.kubernetes.kubeconfig, environ, config.kubernetes.timeout_s, home
        ),
    )
    return report


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None, default_root: Path | None = None) -> int:
    parser = _Parser(
        prog="preflight_check.py",
        description="Host preflight; prints a quantops.preflight/v1 JSON report."
        " Exit 0 ok, 1 warn, 2 fail, 3 usage.",
    )
    parser.add_argument("--root", type=Path, default=default_root or repo_root(), help="checkout to check")
    parser.add_argument("--config", type=Path, action="append", help="YAML config file (repeatable)")
    parser.add_argument("--only", action="append", choices=CHECK_NAMES, help="run only these checks")
    parser.add_argument("--skip", action="append", choices=CHECK_NAMES, default=[], help="skip these checks")
    parser.add_argument("--output", type=Path, help="also write the JSON report to this file")
    parser.add_argument("--compact", action="store_true", help="one-line JSON")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (3): a return code, not an exception
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    selected = [n for n in (args.only or CHECK_NAMES) if n not in args.skip]
    report = run_preflight(args.root.resolve(), config_files=args.config, only=selected)
    data = report.to_dict()
    text = json.dumps(data, sort_keys=False, default=str, indent=None if args.compact else 2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    print(text)
    for name, check in data["checks"].items():
        print(f"preflight: {check['status']:<7} {name:<13} {check['summary']}", file=sys.stderr)
    print(f"preflight: overall {data['status']} (exit {data['exit_code']})", file=sys.stderr)
    return report.exit_code
