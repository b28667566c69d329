"""Log rotation for every agent: bounded disk use and JSON lines (roadmap 7).

Why it exists: an agent that logs a burst of rejections for a day can fill the disk that holds the
event log, and then the safety record itself is lost. Every agent calls :func:`configure_logging`
at start; its file handler rotates on size, and also on time when ``rotate_every_s`` is set, and
keeps at most ``backup_count`` old files. One agent's logs therefore never exceed
``(backup_count + 1) * max_bytes`` bytes (``LogRotationPolicy.disk_bound_bytes``):

* lines are ASCII-only JSON (``ensure_ascii``), so the handler's character count equals bytes;
* a line longer than a file could hold is truncated (``"truncated": true``), so no single record can
  push a file over ``max_bytes``;
* time-based rotation reuses the numbered backups, so it cannot add files beyond the bound.

What it must not do: touch handlers it did not install (pytest's, a host's syslog), or log to a
directory of another agent: file names are ``<agent_name>.log[.N]``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quantops_trading.config.schema import LogRotationPolicy

__all__ = [
    "BoundedRotatingFileHandler",
    "JsonLineFormatter",
    "capture_stdio",
    "configure_logging",
    "log_files",
]

_MARK = "_quantops_handler"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, agent, msg, plus ``extra=`` fields and exc."""

    def __init__(self, agent_name: str, max_line_bytes: int) -> None:
        super().__init__()
        self.agent_name = agent_name
        self.max_line_bytes = max_line_bytes

    def _payload(self, record: logging.LogRecord) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "agent": self.agent_name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return payload

    def format(self, record: logging.LogRecord) -> str:
        payload = self._payload(record)
        line = json.dumps(payload, ensure_ascii=True, default=str)
        if len(line) < self.max_line_bytes:
            return line
        # too long for one file: keep the envelope, cut the message, drop extras and traceback
        slim = {k: payload[k] for k in ("ts", "level", "logger", "agent")}
        slim["truncated"] = True
        slim["original_bytes"] = len(line)
        envelope = len(json.dumps({**slim, "msg": ""}, ensure_ascii=True))
        room = max(0, self.max_line_bytes - envelope - 1)
        msg = payload["msg"]
        while True:  # escaping can lengthen the cut text, so shrink until it fits
            slim["msg"] = msg[:room]
            line = json.dumps(slim, ensure_ascii=True)
            if len(line) < self.max_line_bytes or room == 0:
                return line
            room = max(0, room - max(1, (len(line) - self.max_line_bytes) + 1))


class BoundedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Size rotation plus optional time rotation, both into the same numbered backups."""

    def __init__(
        self,
        filename: Path,
        max_bytes: int,
        backup_count: int,
        rotate_every_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(filename, maxBytes=max_bytes, backupCount=backup_count, encoding="ascii")
        self.rotate_every_s = rotate_every_s
        self.clock = clock
        self.opened_at = clock()

    def shouldRollover(self, record: logging.LogRecord) -> int:
        if super().shouldRollover(record):
            return 1
        if self.rotate_every_s and self.clock() - self.opened_at >= self.rotate_every_s:
            if self.stream is None:
                self.stream = self._open()
            return 1 if self.stream.tell() > 0 else 0
        return 0

    def doRollover(self) -> None:
        super().doRollover()
        self.opened_at = self.clock()


class _RawLine(logging.Formatter):
    """A line an agent printed: kept as it is when it is already one JSON object (the agents' event
    lines), else wrapped by ``wrap``; either way ASCII and at most ``max_line_bytes``."""

    def __init__(self, wrap: JsonLineFormatter) -> None:
        super().__init__()
        self.wrap = wrap

    def format(self, record: logging.LogRecord) -> str:
        if record.name not in ("stdout", "stderr"):
            return self.wrap.format(record)
        line = record.getMessage().encode("ascii", "backslashreplace").decode("ascii")
        if line.startswith("{") and line.endswith("}") and len(line) < self.wrap.max_line_bytes:
            return line
        return self.wrap.format(record)


class _LineWriter:
    """``sys.stdout``/``sys.stderr`` of an agent: every complete line becomes one record of the
    rotating handler, so what the agent prints is bounded like what it logs."""

    def __init__(self, handler: logging.Handler, name: str, fd: int) -> None:
        self.handler, self.name, self.fd = handler, name, fd
        self.encoding, self.errors = "utf-8", "backslashreplace"
        self._buf = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._buf += text
            *lines, self._buf = self._buf.split("\n")
        for line in lines:
            if line:
                fields = {"name": self.name, "levelname": "INFO", "levelno": logging.INFO, "msg": line}
                self.handler.handle(logging.makeLogRecord(fields))
        return len(text)

    def flush(self) -> None:
        self.handler.flush()

    def fileno(self) -> int:
        return self.fd  # below Python (faulthandler, a child process): the file the process started with

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


def capture_stdio(handler: BoundedRotatingFileHandler) -> None:
    """Send what the process prints (stdout, stderr) through ``handler`` line by line. Output below
    Python (a C library writing to fd 1/2) still goes to the file the process was started with."""
    if isinstance(handler.formatter, JsonLineFormatter):
        handler.setFormatter(_RawLine(handler.formatter))
    stdout, stderr = _LineWriter(handler, "stdout", 1), _LineWriter(handler, "stderr", 2)
    sys.stdout, sys.stderr = stdout, stderr


def log_files(log_dir: Path, agent_name: str) -> list[Path]:
    """The files one agent's handler may write: ``<agent>.log`` and its numbered backups."""
    return sorted(log_dir.glob(f"{agent_name}.log*"))


def configure_logging(
    agent_name: str,
    log_dir: Path,
    policy: LogRotationPolicy,
    *,
    stderr: bool = False,
    clock: Callable[[], float] = time.time,
) -> BoundedRotatingFileHandler:
    """Install the rotating JSON file handler on the root logger (idempotent: replaces our previous one).

    Returns the handler so callers (and tests) can flush or close it.
    """
    if not _SAFE_NAME.match(agent_name):
        raise ValueError(f"agent_name {agent_name!r} must be a plain file name ([A-Za-z0-9._-])")
    log_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
        old.close()
    handler = BoundedRotatingFileHandler(
        log_dir / f"{agent_name}.log",
        max_bytes=policy.max_bytes,
        backup_count=policy.backup_count,
        rotate_every_s=policy.rotate_every_s,
        clock=clock,
    )
    formatter = JsonLineFormatter(agent_name, max_line_bytes=min(policy.max_bytes - 1, 256 * 1024))
    handler.setFormatter(formatter)
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    if stderr:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(formatter)
        setattr(console, _MARK, True)
        root.addHandler(console)
    root.setLevel(policy.level)
    return handler
