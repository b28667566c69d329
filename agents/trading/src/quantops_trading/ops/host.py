"""Host checks for preflight: free disk and clock trust (roadmap 6).

Why it exists: a trading agent on a full disk loses its event log; one on a drifting clock
stamps orders and candles wrongly and trips exchange ``recvWindow`` checks. Both are cheap to check
at start and expensive to debug later.

Clock trust, best evidence first: the skew against venue ``Date`` headers seen by the network
self-check; else the kernel's NTP state (``adjtimex``, read-only); else a warning that nothing
vouches for the clock. Never "ok" without evidence.

What it must not do: change the clock or free space; it only reports, with thresholds taken from
the ``preflight`` config section.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from quantops_trading.config.schema import PreflightSection

__all__ = ["HostCheck", "check_clock", "check_disk", "kernel_clock_synchronised"]

Status = Literal["ok", "warn", "fail", "skipped"]

_STA_UNSYNC = 0x0040
_TIME_ERROR = 5
_EARLIEST_SANE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class HostCheck:
    status: Status
    summary: str
    details: dict[str, Any]


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h> (Linux, 64-bit); trailing padding as in glibc
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_pad", ctypes.c_int * 11),
    ]


def kernel_clock_synchronised() -> tuple[bool, int] | None:
    """(synchronised, max error in microseconds) from ``adjtimex`` with modes=0, or None if unavailable."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        timex = _Timex()
        state = int(libc.adjtimex(ctypes.byref(timex)))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    synced = state != _TIME_ERROR and not (timex.status & _STA_UNSYNC)
    return synced, int(timex.maxerror)


def check_clock(
    policy: PreflightSection,
    venue_skews_s: Sequence[float] = (),
    kernel: tuple[bool, int] | Literal["probe"] | None = "probe",
    now: dt.datetime | None = None,
) -> HostCheck:
    """Judge the wall clock: sanity, then venue skew if any, else the kernel NTP state."""
    current = now or dt.datetime.now(dt.UTC)
    details: dict[str, Any] = {"now": current.isoformat()}
    if current < _EARLIEST_SANE:
        return HostCheck(
            "fail", f"wall clock reads {current.isoformat()}, before {_EARLIEST_SANE.date()}", details
        )
    if venue_skews_s:
        worst = max(venue_skews_s, key=abs)
        details.update(reference="venue Date headers", worst_skew_s=worst, samples=len(venue_skews_s))
        if abs(worst) >= policy.clock_fail_skew_s:
            return HostCheck(
                "fail", f"clock skew {worst:+.3f}s vs venues (limit {policy.clock_fail_skew_s}s)", details
            )
        if abs(worst) >= policy.clock_warn_skew_s:
            return HostCheck(
                "warn", f"clock skew {worst:+.3f}s vs venues (warn at {policy.clock_warn_skew_s}s)", details
            )
        return HostCheck("ok", f"clock skew {worst:+.3f}s vs venues", details)
    state = kernel_clock_synchronised() if kernel == "probe" else kernel
    if state is None:
        details["reference"] = "none"
        return HostCheck(
            "warn", "no venue Date header and kernel NTP state unavailable: clock unverified", details
        )
    synced, maxerror_us = state
    details.update(reference="kernel adjtimex", synchronised=synced, maxerror_us=maxerror_us)
    if synced:
        return HostCheck("ok", f"kernel clock NTP-synchronised (max error {maxerror_us} us)", details)
    return HostCheck("warn", "kernel clock not NTP-synchronised and no venue Date header to compare", details)


def check_disk(paths: Sequence[Path], policy: PreflightSection) -> HostCheck:
    """Free space on the filesystems holding ``paths`` (the nearest existing parent of each)."""
    worst: HostCheck | None = None
    per_path: dict[str, int] = {}
    for path in paths:
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        per_path[str(path)] = free
        gib = free / 1024**3
        if free < policy.disk_fail_free_bytes:
            status: Status = "fail"
        elif free < policy.disk_warn_free_bytes:
            status = "warn"
        else:
            status = "ok"
        rank = {"ok": 0, "warn": 1, "fail": 2}
        if worst is None or rank[status] > rank[worst.status]:
            worst = HostCheck(status, f"{gib:.2f} GiB free at {path}", {})
    if worst is None:
        return HostCheck("skipped", "skipped: no paths to check", {})
    details: dict[str, Any] = {
        "free_bytes": per_path,
        "warn_below_bytes": policy.disk_warn_free_bytes,
        "fail_below_bytes": policy.disk_fail_free_bytes,
    }
    return HostCheck(worst.status, worst.summary, details)
