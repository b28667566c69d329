"""Run-level feature flags (roadmap 29): every knob a pipeline run used, exported with the run.

Why it exists: "why was this promoted?" must be answerable by re-running the exact run. All
behaviour-changing settings live in one frozen model; the run's evidence snapshot embeds
:meth:`RunFlags.export` and :func:`load_flags` reads it back, so ``Pipeline(flags=load_flags(p))``
repeats the run bit for bit (same data fingerprints → same metrics → same decisions).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from quantops_trading.pipeline.fingerprint import run_fingerprint

__all__ = ["FLAGS_VERSION", "RunFlags", "load_flags"]

FLAGS_VERSION = 1


class RunFlags(BaseModel):
    """Everything that changes a run's outcome (thresholds come from each Strategy's PromotionPolicy)."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)

    version: int = FLAGS_VERSION
    seed: int = 0
    # backtest
    init_cash: float = Field(default=10_000.0, gt=0)
    fee_rate: float = Field(default=0.001, ge=0, lt=0.1)
    slippage_bps: float = Field(default=1.0, ge=0)
    size_fraction: float = Field(default=1.0, gt=0, le=1)
    # 24 sampling
    fast_bars: int = Field(default=1500, ge=50, description="Bars of the fast (cold-start) path.")
    fast_min_sharpe: float = Field(default=-0.5, description="Fast-path survival: sharpe at least this.")
    fast_max_drawdown: float = Field(default=0.5, gt=0, le=1)
    # 34 cross-split validation
    validation: str = Field(default="walk_forward", pattern="^(walk_forward|purged_kfold)$")
    embargo_bars: int = Field(default=10, ge=0)
    split_min_pass_fraction: float = Field(default=0.75, gt=0, le=1)
    # 35 envelope
    envelope_quantile: float = Field(default=0.05, gt=0, lt=0.5)
    envelope_drawdown_slack: float = Field(default=1.25, ge=1)
    # 23 pool autoscaling
    pool_min: int = Field(default=1, ge=0)
    pool_max: int = Field(default=6, ge=0)
    pool_window: int = Field(default=20, ge=1)
    # 28 retries
    retry_attempts: int = Field(default=3, ge=1, le=10)
    retry_base_seconds: float = Field(default=0.5, ge=0)
    retry_cap_seconds: float = Field(default=10.0, ge=0)
    # 31 remediation
    remediate_after: int = Field(default=3, ge=1, description="WARM rejections before re-tune/retire.")
    max_retunes: int = Field(default=2, ge=0)
    # 32 leaderboard / 33 prune
    leaderboard_half_life_hours: float = Field(default=72.0, gt=0)
    prune_after_hours: float = Field(default=168.0, gt=0)
    # 63 demotion
    warm_loss_fraction: float = Field(default=0.05, gt=0, le=1)
    cold_loss_fraction: float = Field(default=0.10, gt=0, le=1)
    capital: float = Field(default=10_000.0, gt=0)
    # 82, 83, 88 data quality of the candle files
    max_fill_bars: int = Field(
        default=5, ge=0, description="Longest gap filled with flat bars; longer stay open."
    )
    drop_bad_prints: bool = Field(default=True, description="Quarantine one-bar spikes that revert.")

    def export(self) -> dict[str, Any]:
        """Every flag, camelCase as in ``spec.config.flags`` (what :func:`load_flags` reads back)."""
        return self.model_dump(mode="json", by_alias=True)

    def fingerprint(self) -> str:
        return run_fingerprint(json.dumps(self.export(), sort_keys=True))


def load_flags(source: Path | dict[str, Any]) -> RunFlags:
    """Flags from an exported dict, a flags JSON file, or an evidence snapshot (its ``flags`` key)."""
    data: Any = source
    where = "flags"
    if isinstance(source, Path):
        where = str(source)
        try:
            data = json.loads(source.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{source}: cannot read flags: {e}") from e
    if isinstance(data, dict) and "flags" in data and "runId" in data:
        data = data["flags"]
    try:
        flags = RunFlags.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: flags.{loc}: {first['msg']}") from e
    if flags.version != FLAGS_VERSION:
        raise ValueError(f"{where}: flags.version {flags.version} is not {FLAGS_VERSION}")
    return flags
