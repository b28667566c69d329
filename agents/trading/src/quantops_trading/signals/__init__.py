"""Trading intelligence between strategies and the RiskGateway (roadmap 38–50).

Order in which a trader agent applies it to each strategy output:
regime (39) → ensemble (42) → calibration (43) → arbitration (38) → throttle (45) →
sessions (46) → divergence block (50) → guardrails for two-leg trades (47) → sizing (40, using
slippage 48 for the edge) → ``Intent.to_order_request`` → RiskGateway; every step's decision is
recorded with its attribution (44). Horizon selection (49) and anomaly detection (41) feed
exit timing and confidence.
"""

from quantops_trading.signals.anomaly import Anomaly, AnomalyConfig, BookAnomalyDetector
from quantops_trading.signals.arbitration import Candidate, Resolution, ensemble, resolve
from quantops_trading.signals.attribution import (
    DecisionLogged,
    DecisionRecorder,
    decision_of,
    top_contributors,
)
from quantops_trading.signals.calibration import (
    BucketedCalibrator,
    ECETracker,
    IsotonicCalibrator,
    PlattCalibrator,
    ReliabilityCurve,
    expected_calibration_error,
    reliability_curve,
    spread_bucket,
)
from quantops_trading.signals.divergence import (
    DivergenceConfig,
    DivergencePolicy,
    DivergenceState,
    divergence_frame,
)
from quantops_trading.signals.guardrails import (
    ArbGuardConfig,
    GuardVerdict,
    Leg,
    VenueHealth,
    check_entry,
    check_execution,
)
from quantops_trading.signals.horizon import HorizonChoice, realised_ic, select_horizon
from quantops_trading.signals.regime import (
    DEFAULT_WEIGHTS,
    Regime,
    RegimeConfig,
    RegimeWeights,
    detect_regimes,
)
from quantops_trading.signals.sessions import (
    Behaviour,
    BehaviourProfile,
    SessionCalendar,
    hour_of_week,
    hourly_profile,
)
from quantops_trading.signals.sizing import SizeDecision, VolTargetConfig, realised_vol, vol_target_size
from quantops_trading.signals.slippage import (
    DriftMonitor,
    ObservedFill,
    SlippageModel,
    SlippageStore,
    fit_slippage,
    walk_book,
)
from quantops_trading.signals.throttle import (
    SignalThrottle,
    ThrottleConfig,
    ThrottleDecision,
    is_false_positive,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "Anomaly",
    "AnomalyConfig",
    "ArbGuardConfig",
    "Behaviour",
    "BehaviourProfile",
    "BookAnomalyDetector",
    "BucketedCalibrator",
    "Candidate",
    "DecisionLogged",
    "DecisionRecorder",
    "DivergenceConfig",
    "DivergencePolicy",
    "DivergenceState",
    "DriftMonitor",
    "ECETracker",
    "GuardVerdict",
    "HorizonChoice",
    "IsotonicCalibrator",
    "Leg",
    "ObservedFill",
    "PlattCalibrator",
    "Regime",
    "RegimeConfig",
    "RegimeWeights",
    "ReliabilityCurve",
    "Resolution",
    "SessionCalendar",
    "SignalThrottle",
    "SizeDecision",
    "SlippageModel",
    "SlippageStore",
    "ThrottleConfig",
    "ThrottleDecision",
    "VenueHealth",
    "VolTargetConfig",
    "check_entry",
    "check_execution",
    "decision_of",
    "detect_regimes",
    "divergence_frame",
    "ensemble",
    "expected_calibration_error",
    "fit_slippage",
    "hour_of_week",
    "hourly_profile",
    "is_false_positive",
    "realised_ic",
    "realised_vol",
    "reliability_curve",
    "resolve",
    "select_horizon",
    "spread_bucket",
    "top_contributors",
    "vol_target_size",
    "walk_book",
]
