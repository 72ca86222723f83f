from __future__ import annotations

from models.promotion import LIST_PROFIT_COMPARISON, MODELS_COMPARISON, PROCEDURES_COMPARISON, Evidence, Guard, at_least, at_most, decide


def passing(name: str = "calibration") -> Guard:
    return at_most(name, 0.01, 0.05, "")


def evidence(advantage: float, low: float, high: float, *, fair: bool = True, comparison: str = MODELS_COMPARISON) -> Evidence:
    return Evidence(comparison, advantage, low, high, fair, "")


def test_the_first_model_that_passes_every_guard_becomes_champion():
    decision = decide("roc_auc", [], [passing()], has_champion=False)
    assert decision.promote and "no champion" in decision.reason


def test_promoted_only_when_the_interval_is_above_zero():
    assert decide("roc_auc", [evidence(0.02, 0.005, 0.035)], [passing()], has_champion=True).promote
    unsure = decide("roc_auc", [evidence(0.02, -0.001, 0.04)], [passing()], has_champion=True)
    assert not unsure.promote and unsure.reason.startswith("not shown better: roc_auc +0.0200 (95% -0.0010 to +0.0400)")
    worse = decide("roc_auc", [evidence(-0.03, -0.05, -0.01)], [passing()], has_champion=True)
    assert not worse.promote and worse.reason.startswith("worse")


def test_a_champion_ahead_where_it_saw_the_outcomes_proves_nothing_but_a_challenger_ahead_there_counts():
    seen = evidence(-0.03, -0.05, -0.01, fair=False)
    assert not seen.for_champion
    procedures = evidence(0.01, 0.002, 0.02, comparison=PROCEDURES_COMPARISON)
    assert decide("roc_auc", [seen, procedures], [passing()], has_champion=True).promote
    assert decide("roc_auc", [evidence(0.03, 0.01, 0.05, fair=False)], [passing()], has_champion=True).promote


def test_any_fair_evidence_against_the_challenger_keeps_the_champion():
    ahead_on_models = evidence(0.03, 0.01, 0.05, fair=False)
    behind_as_procedure = evidence(-0.02, -0.03, -0.01, comparison=PROCEDURES_COMPARISON)
    decision = decide("roc_auc", [ahead_on_models, behind_as_procedure], [passing()], has_champion=True)
    assert not decision.promote and "comparing procedures" in decision.reason


def test_a_forced_change_needs_a_challenger_not_worse():
    due = ["the champion's scores moved"]
    assert decide("roc_auc", [evidence(0.0, -0.01, 0.01)], [passing()], has_champion=True, forced_by=due).promote
    assert not decide("roc_auc", [evidence(-0.02, -0.03, -0.01)], [passing()], has_champion=True, forced_by=due).promote
    assert not decide("roc_auc", [evidence(0.0, -0.01, 0.01)], [passing()], has_champion=True).promote


def test_a_failed_guard_blocks_promotion_whatever_the_evidence():
    failed = at_most("data_quality", 0.9, 0.5, "")
    decision = decide("roc_auc", [evidence(0.2, 0.1, 0.3)], [passing(), failed], has_champion=True)
    assert not decision.promote and decision.reason == "guard failed: data_quality"
    assert not decide("roc_auc", [], [failed], has_champion=False).promote  # nor does a first model that fails one


def test_an_unknown_value_fails_its_guard():
    assert not at_most("score_stability", None, 0.25, "").passed
    assert not at_least("beats_baselines", None, 0.0, "").passed
    assert at_most("score_stability", 0.25, 0.25, "").passed  # the limit itself passes


def test_the_record_says_what_was_compared():
    record = decide("normalised_gini", [evidence(0.05, 0.01, 0.09)], [passing()], has_champion=True).to_dict()
    assert record["decision"] == "promoted" and record["evidence"][0]["comparison"] == "models"
    assert record["guards"][0]["name"] == "calibration"


def test_the_lists_profit_can_hold_a_challenger_back_but_never_promotes_it_alone():
    richer_list = evidence(500.0, 100.0, 900.0, comparison=LIST_PROFIT_COMPARISON)
    level_models = evidence(0.0, -0.01, 0.01)
    assert not decide("roc_auc", [level_models, richer_list], [passing()], has_champion=True).promote
    poorer_list = evidence(-500.0, -900.0, -100.0, comparison=LIST_PROFIT_COMPARISON)
    held = decide("roc_auc", [evidence(0.03, 0.01, 0.05), poorer_list], [passing()], has_champion=True)
    assert not held.promote and "comparing list_profit" in held.reason
    unfair_poorer_list = evidence(-500.0, -900.0, -100.0, fair=False, comparison=LIST_PROFIT_COMPARISON)
    assert decide("roc_auc", [evidence(0.03, 0.01, 0.05), unfair_poorer_list], [passing()], has_champion=True).promote
