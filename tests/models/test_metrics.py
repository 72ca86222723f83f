from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from models import metrics
from models.metrics import (
    calibration_error,
    classification_metrics,
    decile_table,
    gains_points,
    gini,
    reliability_points,
    top_fraction_lift,
    value_metrics,
)


def test_top_decile_lift_known_answer():
    truth = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 2)
    scores = np.array([0.9, 0.8] + [0.1] * 8 + [0.7, 0.6] + [0.1] * 8)
    # Top 10% = 2 rows, both positive; base rate 0.2: lift 5.
    assert top_fraction_lift(truth, scores) == pytest.approx(5.0)
    metrics = classification_metrics(truth, scores)
    assert metrics["roc_auc"] == pytest.approx(1.0)
    assert metrics["positive_rate"] == pytest.approx(0.2)
    assert metrics["calibration_error"] == pytest.approx(calibration_error(truth, scores))
    assert "calibration_error" not in classification_metrics(truth, scores, scores_are_probabilities=False)


def test_gains_known_answer():
    gains = gains_points(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]))
    assert gains["positives_share"].tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert gains["contacted_share"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_gini_known_answer():
    # Best first: 30, 0, 10, 0 -> captured 0.75, 0.75, 1, 1 against 0.25, 0.5, 0.75, 1: (0.5+0.25+0.25+0)/4.
    actual = np.array([0.0, 10.0, 0.0, 30.0])
    assert gini(actual, np.array([1, 2, 3, 4])) == pytest.approx(0.25)
    assert gini(actual, np.array([4, 3, 2, 1])) < 0


def test_value_metrics_known_answer():
    actual = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 20.0, 80.0])
    predicted = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 50.0, 40.0])
    metrics = value_metrics(actual, predicted)
    assert metrics["top_decile_share"] == pytest.approx(0.2)  # the top predicted customer spent 20 of 100
    assert metrics["top_decile_share_perfect"] == pytest.approx(0.8)
    assert metrics["total_ratio"] == pytest.approx(98 / 100)
    assert metrics["mae"] == pytest.approx((8 * 1 + 30 + 40) / 10)
    assert value_metrics(actual, actual)["normalised_gini"] == pytest.approx(1.0)
    assert 0 < metrics["normalised_gini"] < 1


def test_decile_table_ranks_by_prediction():
    predicted = np.arange(100, dtype=float)
    table = decile_table(predicted * 2, predicted)
    assert table["customers"].tolist() == [10] * 10
    assert table.loc[0, "mean_predicted"] == pytest.approx(np.arange(90, 100).mean())
    assert table["mean_actual"].is_monotonic_decreasing


def test_reliability_bins_hold_equal_counts_and_their_means():
    points = reliability_points(np.array([0, 0, 1, 1] * 5), np.linspace(0, 1, 20), bins=4)
    assert points["rows"].tolist() == [5, 5, 5, 5]
    assert points["predicted"].iloc[0] == pytest.approx(np.linspace(0, 1, 20)[:5].mean())


def test_calibration_error_known_answers():
    truth = np.array([0, 1] * 50)
    assert calibration_error(truth, np.full(100, 0.5)) == pytest.approx(0.0)
    assert calibration_error(truth, np.full(100, 0.9)) == pytest.approx(0.4)  # every bin: 0.9 predicted, half observed
    # Perfectly sorted outcomes, predicted 0.5 throughout: the lower half of the bins saw none, the upper all.
    assert calibration_error(np.array([0] * 50 + [1] * 50), np.linspace(0.4999, 0.5001, 100), bins=2) == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_numpy_metrics_agree_with_scikit_learn_ties_included(seed):
    rng = np.random.default_rng(seed)
    truth = (rng.random(700) < 0.3).astype(int)
    scores = np.round(rng.random(700) * 0.5 + truth * 0.3, 2)  # rounded: many tied scores
    assert metrics.roc_auc(truth, scores) == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    assert metrics.average_precision(truth, scores) == pytest.approx(average_precision_score(truth, scores), abs=1e-12)
    measured = metrics.classification_metrics(truth, scores)
    assert measured["brier"] == pytest.approx(brier_score_loss(truth, scores), abs=1e-12)
    assert measured["log_loss"] == pytest.approx(log_loss(truth, scores), abs=1e-12)
    table = metrics.reliability_points(truth, scores)
    assert measured["calibration_error"] == pytest.approx(np.average((table["predicted"] - table["observed"]).abs(), weights=table["rows"]), abs=1e-12)
