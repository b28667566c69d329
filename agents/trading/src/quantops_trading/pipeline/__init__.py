"""The autonomous pipeline (roadmap 21, 23–35, with 63/64 from the risk engine).

The pipeline agent keeps the strategy pool healthy without a human: it backtests, validates,
ranks, promotes COLD → WARM → HOT, demotes, prunes, and writes every decision to the Strategy
status and the event log. Entry point: :class:`~quantops_trading.pipeline.cycle.Pipeline`
(``run_full_pipeline``), scheduled by :class:`~quantops_trading.pipeline.scheduler.CycleScheduler`.
"""
