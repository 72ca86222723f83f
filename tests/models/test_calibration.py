from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

import pandas as pd

from models.calibration import Calibrator, fit_calibrator, forecast_rate


def overconfident(seed: int = 0, rows: int = 4000):
    """True churn probability p; the model says p pushed toward 0 and 1."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, rows)
    truth = (rng.random(rows) < p).astype(int)
    said = 1 / (1 + np.exp(-3 * np.log(p / (1 - p))))
    return said, truth


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibration_fitted_on_one_slice_improves_brier_on_another(method):
    said, truth = overconfident(seed=0)
    calibrator = fit_calibrator(said, truth, method)
    new_said, new_truth = overconfident(seed=1)
    assert brier_score_loss(new_truth, calibrator(new_said)) < brier_score_loss(new_truth, new_said) - 0.01
    assert ((calibrator(new_said) >= 0) & (calibrator(new_said) <= 1)).all()


def test_sigmoid_keeps_the_ranking_and_recovers_the_distortion():
    said, truth = overconfident()
    calibrator = fit_calibrator(said, truth, "sigmoid")
    assert roc_auc_score(truth, calibrator(said)) == pytest.approx(roc_auc_score(truth, said))
    assert calibrator.x[0] == pytest.approx(1 / 3, abs=0.05)  # the slope undoes the factor 3 on the logit


def test_a_calibrator_survives_json_and_none_is_identity():
    said, truth = overconfident()
    for method in ("isotonic", "sigmoid"):
        calibrator = fit_calibrator(said, truth, method)
        restored = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
        assert np.array_equal(restored(said), calibrator(said))
    assert np.array_equal(fit_calibrator(said, truth, "none")(said), said)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_levelling_keeps_the_shape_and_matches_the_rate_given(method):
    said, truth = overconfident(seed=0)
    calibrator = fit_calibrator(said, truth, method)
    # Rows where customers churn less than on the slice the map was fitted on.
    fewer_churn, fewer_truth = said[: len(said) // 2], np.where(np.arange(len(said) // 2) % 4 == 0, 0, truth[: len(said) // 2])
    relevelled = calibrator.levelled(fewer_churn, fewer_truth.mean(), "a test")
    assert relevelled(fewer_churn).mean() == pytest.approx(fewer_truth.mean(), abs=1e-9)
    assert relevelled.level < 0
    assert roc_auc_score(truth, relevelled(said)) == pytest.approx(roc_auc_score(truth, calibrator(said)), abs=1e-3)
    restored = Calibrator.from_dict(json.loads(json.dumps(relevelled.to_dict())))
    assert np.array_equal(restored(said), relevelled(said)) and restored.level_rule == "a test"


def test_weighted_rows_level_the_map_to_the_rate_of_the_customers_they_stand_for():
    said, truth = overconfident(seed=0)
    weights = np.where(said > np.median(said), 4.0, 1.0)  # a sample that kept a quarter of the likelier leavers
    relevelled = fit_calibrator(said, truth, "sigmoid").levelled(said, 0.3, "a test", weights)
    assert np.average(relevelled(said), weights=weights) == pytest.approx(0.3, abs=1e-9)
    assert relevelled(said).mean() != pytest.approx(0.3, abs=1e-3)


def test_a_calibrator_saved_before_the_level_existed_loads_with_none():
    said, _ = overconfident()
    loaded = Calibrator.from_dict({"method": "sigmoid", "x": [0.5], "y": [0.1]})
    assert loaded.level == 0.0
    assert np.allclose(loaded(said), 1 / (1 + np.exp(-(0.5 * np.log(said / (1 - said)) + 0.1))))


def rates(values, spacing_days: int = 30) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2021-01-01", periods=len(values), freq=f"{spacing_days}D"))


def test_the_rate_forecast_follows_a_shift_that_stays_and_averages_one_that_wanders():
    shifted, latest, rule = forecast_rate(rates([0.2, 0.2, 0.2, 0.2, 0.45, 0.45, 0.45, 0.45]), horizon_days=30)
    assert (shifted, latest) == (pytest.approx(0.45), 1) and "latest 1" in rule
    wandering, latest, _ = forecast_rate(rates([0.2, 0.4, 0.2, 0.4, 0.2, 0.4, 0.2, 0.4]), horizon_days=30)
    assert wandering == pytest.approx(0.3, abs=0.03) and latest != 1
    # A recent mean that beats the long one by less than a rate wanders by chance is no trend.
    noisy = rates([0.30, 0.33, 0.28, 0.31, 0.29, 0.32, 0.30, 0.29])
    assert forecast_rate(noisy, 30)[1] == 2 and forecast_rate(noisy, 30, pd.Series(1500, index=noisy.index))[1] is None
    steady, latest, _ = forecast_rate(rates([0.30, 0.32, 0.29, 0.31, 0.30, 0.28, 0.31, 0.30]), horizon_days=30)
    assert latest is None and steady == pytest.approx(0.30125)
    # Each cutoff is forecast only from cutoffs whose labels had closed by then: none for the first.
    alone, latest, rule = forecast_rate(rates([0.3]), horizon_days=30)
    assert (alone, latest) == (0.3, None) and "too few" in rule


def test_isotonic_steps_carried_to_another_booster_sit_at_the_same_ranks():
    said, truth = overconfident(seed=0)
    calibrator = fit_calibrator(said, truth, "isotonic")
    # Another booster that ranks these rows alike but on a squeezed scale.
    squeezed = 0.3 + 0.4 * said
    carried = calibrator.carried_over(said, squeezed)
    assert np.allclose(carried(squeezed), calibrator(said), atol=0.02)
    assert fit_calibrator(said, truth, "sigmoid").carried_over(said, squeezed) == fit_calibrator(said, truth, "sigmoid")
