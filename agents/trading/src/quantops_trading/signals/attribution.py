"""Feature attribution stored with every decision, in the hash-chained event log (44).

Why it exists: "why did we buy?" must be answerable after the fact from the record, not by re-running
code that may since have changed. Each decision — emitted, suppressed, throttled, blocked, or lost
in arbitration — becomes a :class:`DecisionLogged` event carrying the features (or contributions)
the strategy reported in its ``attribution``, the stage that decided, and the reason.
:class:`DecisionRecorder` appends them to a :class:`~quantops_trading.storage.EventLog` (tamper
evident: hash chain) and reads them back.

What it must not do: make decisions; it records what other stages decided. It stores floats as
given (no rounding), so a replay can compare them exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quantops_trading.model.ids import EventId, TraceId
from quantops_trading.storage.eventlog import EventLog
from quantops_trading.strategy.base import Intent, Output, Signal

__all__ = ["Action", "DecisionLogged", "DecisionRecorder", "decision_of", "summarise", "top_contributors"]

Action = Literal["emitted", "suppressed", "throttled", "blocked", "lost_arbitration", "sized_out"]


class DecisionLogged(BaseModel):
    """One decision about one strategy output, with its attribution (kind ``decision``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["decision"] = "decision"
    event_id: EventId = Field(default_factory=EventId.new)
    ts_ns: int = Field(ge=0, description="Time of the data the decision was made on (ns).")
    strategy_id: str = Field(min_length=1)
    instrument_id: str
    output_kind: Literal["signal", "intent"]
    action: Action
    stage: str = Field(min_length=1, description="Component that decided: strategy, arbitration, throttle …")
    value: float = Field(description="Signal value, or signed quantity for an intent.")
    confidence: float = Field(ge=0.0, le=1.0)
    attribution: dict[str, float]
    reason: str = ""
    trace_id: TraceId | None = Field(default=None, description="The signal's trace (95).")


def top_contributors(decision: DecisionLogged, k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` attribution entries with the largest magnitude (for dashboards and alerts)."""
    return sorted(decision.attribution.items(), key=lambda kv: abs(kv[1]), reverse=True)[:k]


def decision_of(
    strategy_id: str, output: Output, action: Action, stage: str, reason: str = ""
) -> DecisionLogged:
    """The event for one output (intents record their signed quantity as ``value``)."""
    if isinstance(output, Signal):
        value = output.value
    else:
        assert isinstance(output, Intent)
        value = float(output.quantity) * (1 if output.side == "buy" else -1)
    return DecisionLogged(
        ts_ns=output.ts_ms * 1_000_000,
        strategy_id=strategy_id,
        instrument_id=str(output.instrument_id),
        output_kind=output.kind,
        action=action,
        stage=stage,
        value=value,
        confidence=output.confidence,
        attribution=dict(output.attribution),
        reason=reason or output.reason,
    )


@dataclass(slots=True)
class DecisionRecorder:
    """Append decisions to ``log``; ``decisions()`` reads them back in order."""

    log: EventLog

    def record(
        self, strategy_id: str, output: Output, action: Action, *, stage: str = "strategy", reason: str = ""
    ) -> DecisionLogged:
        decision = decision_of(strategy_id, output, action, stage, reason)
        self.log.append(decision)
        return decision

    def decisions(self, from_seq: int | None = None) -> Iterator[DecisionLogged]:
        for entry in self.log.entries(from_seq):
            if entry.kind == "decision":
                yield DecisionLogged.model_validate(entry.data())


def summarise(decisions: Iterable[DecisionLogged]) -> dict[str, dict[str, int]]:
    """Counts per strategy and action, e.g. ``{"btc-momentum": {"emitted": 10, "throttled": 3}}``.

    The supervisor dashboard shows this next to the strategy's fills; a strategy whose decisions
    are mostly ``blocked`` or ``throttled`` is not trading the way its backtest assumed.
    """
    out: dict[str, dict[str, int]] = {}
    for d in decisions:
        per = out.setdefault(d.strategy_id, {})
        per[d.action] = per.get(d.action, 0) + 1
    return out
