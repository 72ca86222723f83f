from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from models.calibration import Calibrator, fit_calibrator


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
def test_relevelling_keeps_the_shape_and_matches_the_rate_of_the_rows_given(method):
    said, truth = overconfident(seed=0)
    calibrator = fit_calibrator(said, truth, method)
    # Rows where customers churn less than on the slice the map was fitted on.
    fewer_churn, fewer_truth = said[: len(said) // 2], np.where(np.arange(len(said) // 2) % 4 == 0, 0, truth[: len(said) // 2])
    relevelled = calibrator.relevelled(fewer_churn, fewer_truth)
    assert relevelled(fewer_churn).mean() == pytest.approx(fewer_truth.mean(), abs=1e-9)
    assert relevelled.level < 0
    assert roc_auc_score(truth, relevelled(said)) == pytest.approx(roc_auc_score(truth, calibrator(said)), abs=1e-3)
    restored = Calibrator.from_dict(json.loads(json.dumps(relevelled.to_dict())))
    assert np.array_equal(restored(said), relevelled(said))


def test_a_calibrator_saved_before_the_level_existed_loads_with_none():
    said, _ = overconfident()
    loaded = Calibrator.from_dict({"method": "sigmoid", "x": [0.5], "y": [0.1]})
    assert loaded.level == 0.0
    assert np.allclose(loaded(said), 1 / (1 + np.exp(-(0.5 * np.log(said / (1 - said)) + 0.1))))
