"""The strategies' outputs on one pair judged together, before any is sized (38, 45).

Why it exists: each strategy decides alone, but they trade one account. Two strategies on one pair
wanting opposite things in the same tick would send a buy and a sell — fees and spread paid twice
to net out at best — so only the most confident of the opposing entries acts
(``signals.arbitration.resolve``, confidence × 1; an exact tie stays out). A strategy whose recent
entries have mostly lost is let through only with strong signals, and rarely
(``signals.throttle.SignalThrottle``); its entries' outcomes are judged here, ``horizonSeconds``
after each, on the pair's accepted mid (no look-ahead: an outcome is recorded only once its horizon
has passed).

What is judged: arbitration judges every signal with a direction — an **entry** (a direction that
differs from the last one this chain let act for that strategy and pair) or a hold, which may top
up; the floor ``minConfidence`` and the throttle judge entries only. A signal of 0 (go flat) and
intents (orders a strategy states itself, e.g. market making's quotes) always pass: getting out
must never wait on another strategy's conviction. The throttle's memory is the process's: a
restarted trader starts every strategy unthrottled.
Every refusal is a ``decision`` record (``signals.attribution.decision_of``) in the strategy's log
with the stage and the reason, so "why did it not trade?" is answered by the record.

What it must not do: size, price or send; it only says which outputs go on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from quantops_api.v1alpha1.roleconfig import TraderSignals
from quantops_trading.signals.arbitration import Candidate, resolve
from quantops_trading.signals.attribution import Action
from quantops_trading.signals.throttle import SignalThrottle, is_false_positive
from quantops_trading.strategy.base import Output, Signal

__all__ = ["Judged", "SignalChain"]


def _direction(value: float) -> int:
    return 1 if value > 0 else -1 if value < 0 else 0


@dataclass(frozen=True, slots=True)
class Judged:
    """One output and whether it acts; a refused one carries the stage and reason for its record."""

    strategy: str
    output: Output
    refused: Action | None = None
    stage: str = ""
    reason: str = ""


@dataclass(slots=True)
class _Entry:
    at: float
    value: float
    mid: float


class SignalChain:
    """Arbitration (38) then the throttle (45), per pair and tick; see the module docstring."""

    def __init__(self, cfg: TraderSignals, clock: Callable[[], float]) -> None:
        self.cfg = cfg
        self.clock = clock
        t = cfg.throttle
        self.throttle = SignalThrottle(t) if t.enabled else None
        self._acted: dict[tuple[str, str], int] = {}  # (strategy, pair) → direction last let act
        self._open: dict[tuple[str, str], deque[_Entry]] = {}  # entries awaiting their outcome

    def observe(self, pair: str, mid: float) -> None:
        """Judge the entries on ``pair`` whose horizon has passed, at ``mid`` (the accepted price)."""
        if self.throttle is None:
            return
        now, t = self.clock(), self.cfg.throttle
        for (strategy, p), entries in self._open.items():
            while p == pair and entries and now - entries[0].at >= t.horizon_seconds:
                e = entries.popleft()
                self.throttle.record(strategy, is_false_positive(e.value, e.mid, mid, t.cost_bps))

    def judge(self, pair: str, mid: float, outputs: Sequence[tuple[str, Output]]) -> list[Judged]:
        """Each output of this tick on ``pair``, in order, with its verdict."""
        entries = {
            i: o
            for i, (s, o) in enumerate(outputs)
            if isinstance(o, Signal) and _direction(o.value) not in (0, self._acted.get((s, pair), 0))
        }
        lost = self._arbitrate(outputs, entries)
        out: list[Judged] = []
        for i, (strategy, o) in enumerate(outputs):
            if i in lost:
                out.append(Judged(strategy, o, "lost_arbitration", "arbitration", lost[i]))
                continue
            if isinstance(o, Signal) and i in entries:
                refused = self._throttled(strategy, o)
                if refused:
                    out.append(Judged(strategy, o, "throttled", "throttle", refused))
                    continue
                self._open.setdefault((strategy, pair), deque()).append(_Entry(self.clock(), o.value, mid))
            if isinstance(o, Signal):
                self._acted[(strategy, pair)] = _direction(o.value)
            out.append(Judged(strategy, o))
        return out

    def _arbitrate(self, outputs: Sequence[tuple[str, Output]], entries: dict[int, Signal]) -> dict[int, str]:
        """Index → why, for each entry below the floor and each signal (entry or hold: a hold may
        top up) that opposes the winner among this tick's signals."""
        floor = self.cfg.min_confidence
        lost = {
            i: f"confidence {o.confidence:.3f} < minimum {floor:.3f}"
            for i, o in entries.items()
            if o.confidence < floor
        }
        if not self.cfg.arbitration:
            return lost
        signals = [(i, s, o) for i, (s, o) in enumerate(outputs) if isinstance(o, Signal) and i not in lost]
        if len({s for _, s, _ in signals}) < 2:
            return lost
        res = resolve([Candidate(s, o) for _, s, o in signals])[str(signals[0][2].instrument_id)]
        if not res.conflict:
            return lost
        win = res.winner
        for i, s, o in signals:
            d = _direction(o.value)
            if d == 0:
                continue  # going flat never waits on another strategy
            if win is None:
                lost[i] = f"opposing signals tied at confidence {o.confidence:.3f}: stay out"
            elif s != win.source and d != win.direction:
                lost[i] = (
                    f"opposed by {win.source} (confidence {win.signal.confidence:.3f} > {o.confidence:.3f})"
                )
        return lost

    def _throttled(self, strategy: str, o: Signal) -> str:
        if self.throttle is None:
            return ""
        d = self.throttle.allow(strategy, o.confidence)
        return "" if d.allowed else d.reason
