from __future__ import annotations

import pytest

from models.promotion import GateSettings, Guard, at_least, at_most, decide, guards, improvement

SETTINGS = GateSettings(metric="roc_auc", min_improvement=0.01)


def passing(name: str = "calibration") -> Guard:
    return at_most(name, 0.01, 0.05, "")


def test_the_first_model_that_passes_every_guard_becomes_champion():
    decision = decide(SETTINGS, 0.70, None, [passing()])
    assert decision.promote and decision.improvement is None and "no champion" in decision.reason


def test_a_challenger_is_promoted_only_by_the_margin():
    assert decide(SETTINGS, 0.75, 0.74, [passing()]).promote
    kept = decide(SETTINGS, 0.745, 0.74, [passing()])
    assert not kept.promote and kept.improvement == pytest.approx(0.005) and "less than the margin" in kept.reason
    assert not decide(SETTINGS, 0.60, 0.74, [passing()]).promote


def test_a_failed_guard_blocks_promotion_whatever_the_metric():
    failed = at_most("data_quality", 0.9, 0.5, "")
    decision = decide(SETTINGS, 0.99, 0.50, [passing(), failed])
    assert not decision.promote and decision.reason == "guard failed: data_quality"
    assert not decide(SETTINGS, 0.99, None, [failed]).promote  # nor does a first model that fails one


def test_lower_is_better_for_losses():
    assert improvement("brier", 0.18, 0.20) == pytest.approx(0.02)
    assert improvement("roc_auc", 0.18, 0.20) == pytest.approx(-0.02)
    assert decide(GateSettings(metric="log_loss", min_improvement=0.01), 0.50, 0.55, []).promote


def test_an_unknown_value_fails_its_guard():
    assert not at_most("score_stability", None, 0.25, "").passed
    assert not at_least("customer_value", None, -0.02, "").passed
    assert at_most("score_stability", 0.25, 0.25, "").passed  # the limit itself passes


def test_guards_compare_with_the_baselines_and_the_champions_value_model():
    checks = {guard.name: guard for guard in guards(
        GateSettings(baseline_tolerance=0.01, max_value_gini_loss=0.02),
        calibration_error=0.02, quarantine_share=0.3, score_psi=0.1,
        challenger_metric=0.70, best_baseline_metric=0.72, value_gini=0.50, champion_value_gini=0.51,
    )}
    assert checks["beats_baselines"].value == pytest.approx(-0.02) and not checks["beats_baselines"].passed
    assert checks["customer_value"].value == pytest.approx(-0.01) and checks["customer_value"].passed
    assert all(checks[name].passed for name in ("calibration", "data_quality", "score_stability"))
    first = {guard.name for guard in guards(
        GateSettings(), calibration_error=0.02, quarantine_share=0.3, score_psi=0.1,
        challenger_metric=0.70, best_baseline_metric=None, value_gini=0.5, champion_value_gini=None,
    )}
    assert first == {"calibration", "data_quality", "score_stability"}
