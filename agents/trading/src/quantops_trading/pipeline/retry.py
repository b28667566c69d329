"""Automatic reruns of failed evaluations (roadmap 28): bounded, with backoff, transient only.

Why it exists: a backtest that died because a file was briefly unreadable or a worker timed out
should be retried; one that raised ``ValueError`` on bad params will raise it again, and retrying
it only burns the queue. :func:`classify` decides, :func:`run_with_retry` retries transient
failures up to ``attempts`` times with capped exponential backoff and full jitter, and returns a
:class:`RetryOutcome` recording every attempt (it goes into the evidence snapshot).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

__all__ = [
    "DeterministicFailure",
    "RetryOutcome",
    "TransientFailure",
    "backoff_seconds",
    "classify",
    "run_with_retry",
]

T = TypeVar("T")
FailureKind = Literal["transient", "deterministic"]


class TransientFailure(RuntimeError):
    """An evaluator failure worth retrying (I/O hiccup, timeout, lost worker)."""


class DeterministicFailure(RuntimeError):
    """An evaluator failure that will repeat on the same inputs (bad params, bad data, bug)."""


_TRANSIENT: tuple[type[BaseException], ...] = (
    TransientFailure,
    TimeoutError,
    ConnectionError,
    BlockingIOError,
)


def classify(exc: BaseException) -> FailureKind:
    """Transient: timeouts, connection errors, EAGAIN-like OS errors; everything else deterministic."""
    if isinstance(exc, DeterministicFailure):
        return "deterministic"
    if isinstance(exc, _TRANSIENT):
        return "transient"
    if isinstance(exc, OSError) and not isinstance(
        exc, (FileNotFoundError, PermissionError, IsADirectoryError)
    ):
        return "transient"
    return "deterministic"


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base·2^(attempt-1))]."""
    return rng.uniform(0.0, min(cap, base * 2 ** max(0, attempt - 1)))


@dataclass
class RetryOutcome(Generic[T]):
    value: T | None
    attempts: list[dict[str, object]] = field(default_factory=list)
    error: str | None = None
    kind: FailureKind | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_with_retry(
    fn: Callable[[], T],
    *,
    attempts: int,
    base: float,
    cap: float,
    rng: random.Random,
    sleep: Callable[[float], None] = time.sleep,
) -> RetryOutcome[T]:
    """Call ``fn`` until it succeeds, fails deterministically, or ``attempts`` are used up."""
    if attempts < 1:
        raise ValueError(f"attempts: must be ≥ 1, got {attempts}")
    out: RetryOutcome[T] = RetryOutcome(None)
    for n in range(1, attempts + 1):
        try:
            out.value = fn()
            out.attempts.append({"attempt": n, "ok": True})
            out.error, out.kind = None, None
            return out
        except Exception as e:
            kind = classify(e)
            out.error, out.kind = f"{type(e).__name__}: {e}", kind
            rec: dict[str, object] = {"attempt": n, "ok": False, "kind": kind, "error": out.error}
            if kind == "deterministic" or n == attempts:
                out.attempts.append(rec)
                return out
            delay = backoff_seconds(n, base, cap, rng)
            rec["backoff"] = round(delay, 4)
            out.attempts.append(rec)
            sleep(delay)
    return out
