"""Environment and tooling operations every agent host runs before trading (roadmap 1-10).

Dependency check, network self-check, host checks, Kubernetes API reachability, preflight report,
drift detector, checksum manifest verification and log rotation setup. The shell entry points in
scripts/ stay thin and call into here. Nothing here places orders or talks to a venue beyond a probe.
"""

from quantops_trading.ops.dependencies import DependencyReport, check_dependencies
from quantops_trading.ops.drift import DriftReport, detect_drift
from quantops_trading.ops.logrotation import configure_logging
from quantops_trading.ops.network import (
    NetworkCheckResult,
    acheck_network,
    check_network,
)
from quantops_trading.ops.preflight import PreflightReport, run_preflight

__all__ = [
    "DependencyReport",
    "DriftReport",
    "NetworkCheckResult",
    "PreflightReport",
    "acheck_network",
    "check_dependencies",
    "check_network",
    "configure_logging",
    "detect_drift",
    "run_preflight",
]
