"""Stage decisions: COLD → WARM needs evidence + the governor (64), WARM → HOT needs validation (34)
and the envelope (35); realised loss demotes one stage at a time (63); a lowered desiredStage demotes."""

from __future__ import annotations

from decimal import Decimal

from pipeline_support import spec

from quantops_api import Stage
from quantops_api.v1alpha1.riskpolicy import RiskPolicySpec
from quantops_trading.pipeline.envelope import EnvelopeCheck, PaperResult
from quantops_trading.pipeline.evaluator import Evaluation
from quantops_trading.pipeline.promotion import decide_cold, decide_desired, decide_loss, decide_warm
from quantops_trading.pipeline.validation import ValidationReport
from quantops_trading.risk.lifecycle import DemotionThresholds, GovernorReport, simulate_promotion

GOOD = Evaluation("c", "d", 5000, 40, 0.3, 0.1, 2.0, 3.0)
OK_GOV = GovernorReport("s", True, 40)


def test_cold_to_warm_needs_every_evidence_threshold() -> None:
    sp = spec()
    d = decide_cold("s", "fp", sp, GOOD, OK_GOV)
    assert (d.action, d.old, d.new, d.fingerprint) == ("promote", Stage.COLD, Stage.WARM, "fp")
    for ev, word in [
        (Evaluation("c", "d", 5000, 5, 0.3, 0.1, 2.0, 3.0), "minTrades"),
        (Evaluation("c", "d", 5000, 40, 0.3, 0.1, 0.1, 3.0), "minSharpe"),
        (Evaluation("c", "d", 5000, 40, 0.3, 0.5, 2.0, 3.0), "maxDrawdown"),
    ]:
        r = decide_cold("s", "fp", sp, ev, OK_GOV)
        assert r.action == "reject" and r.new is Stage.COLD and word in r.reason
    assert decide_cold("s", "fp", spec(desiredStage="COLD"), GOOD, OK_GOV).action == "hold"
    held = decide_cold("s", "fp", spec(promotion={"autoPromote": False}), GOOD, OK_GOV)
    assert held.action == "hold" and "autoPromote" in held.reason


def test_64_a_governor_breach_refuses_cold_to_warm() -> None:
    from quantops_trading.execution.types import OrderIntent, OrderType, Side
    from quantops_trading.risk.book import OrderRequest
    from quantops_trading.risk.lifecycle import SimOrder

    def order(n: int) -> SimOrder:
        i = OrderIntent(strategy_id="s", intent_id=f"bt-{n}", symbol="AAA/BBB", side=Side.BUY,
                        type=OrderType.MARKET, quantity=Decimal(100))  # fmt: skip
        return SimOrder(float(n), OrderRequest(i, Decimal(100), expected_edge_bps=500.0))

    tight = RiskPolicySpec.model_validate(
        {"maxPairExposure": 50, "maxGrossExposure": 100, "concentrationCap": 1.0}
    )
    gov = simulate_promotion("s", [order(0)], tight, capital=Decimal(10_000))
    assert not gov.passed
    d = decide_cold("s", "fp", spec(), GOOD, gov)
    assert d.action == "reject" and d.new is Stage.COLD and d.reason.startswith("governor:")
    assert decide_cold("s", "fp", spec(), GOOD, None).action == "reject"  # no simulation, no promotion


def test_34_35_warm_to_hot_needs_validation_and_envelope() -> None:
    sp = spec()
    val = ValidationReport("walk_forward", True, "4/4")
    env = EnvelopeCheck(True, "inside", None)
    d = decide_warm("s", "fp", sp, GOOD, val, env, 30.0)
    assert (d.action, d.new) == ("promote", Stage.HOT)
    r = decide_warm("s", "fp", sp, GOOD, ValidationReport("walk_forward", False, "1/4 splits"), env, 30.0)
    assert r.action == "reject" and r.new is Stage.WARM and "validation" in r.reason
    assert decide_warm("s", "fp", sp, GOOD, None, env, 30.0).action == "reject"
    r = decide_warm("s", "fp", sp, GOOD, val, EnvelopeCheck(False, "paper return outside", None), 30.0)
    assert r.action == "reject" and "envelope" in r.reason
    young = decide_warm("s", "fp", spec(promotion={"minWarmHours": 24}), GOOD, val, env, 2.0)
    assert young.action == "hold" and "minWarmHours" in young.reason
    assert decide_warm("s", "fp", spec(desiredStage="WARM"), GOOD, val, env, 30.0).action == "hold"


def test_31_a_re_tuned_strategy_is_held_at_warm_not_promoted_with_params_it_does_not_run() -> None:
    sp = spec()
    val = ValidationReport("walk_forward", True, "4/4")
    env = EnvelopeCheck(True, "inside", None)
    d = decide_warm("s", "fp", sp, GOOD, val, env, 30.0, retuned={"fast": 7, "slow": 40})
    assert (d.action, d.new) == ("hold", Stage.WARM)
    assert "{'fast': 7, 'slow': 40}" in d.reason and "spec.params" in d.reason
    assert decide_warm("s", "fp", sp, GOOD, val, env, 30.0, retuned=None).action == "promote"


def test_63_realised_loss_demotes_one_stage_at_a_time() -> None:
    lim = DemotionThresholds(0.05, 0.10)
    loss = PaperResult(10.0, 20, -0.06, 0.07, -600.0, 10_000)
    hot = decide_loss("s", "fp", Stage.HOT, loss, lim)
    assert hot is not None and (hot[0].action, hot[0].new) == ("demote", Stage.WARM)
    assert hot[1].realised_loss == Decimal("600.0")
    assert decide_loss("s", "fp", Stage.WARM, loss, lim) is None  # 6% < 10% for WARM → COLD
    big = PaperResult(10.0, 20, -0.12, 0.12, -1200.0, 10_000)
    warm = decide_loss("s", "fp", Stage.WARM, big, lim)
    assert warm is not None and warm[0].new is Stage.COLD
    assert decide_loss("s", "fp", Stage.COLD, big, lim) is None
    assert decide_loss("s", "fp", Stage.HOT, None, lim) is None


def test_lowered_desired_stage_demotes() -> None:
    d = decide_desired("s", "fp", Stage.HOT, spec(desiredStage="COLD"))
    assert d is not None and (d.old, d.new) == (Stage.HOT, Stage.WARM)
    assert decide_desired("s", "fp", Stage.WARM, spec(desiredStage="WARM")) is None
