from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pandas as pd
import pytest

from models import backtest, churn
from models.metrics import classification_metrics
from models.training import TrainingSettings
from models.tuning import new_study
from tests.models.conftest import HORIZON_DAYS, QUICK


def fit(labelled: pd.DataFrame, settings: TrainingSettings = QUICK, study: optuna.Study | None = None):
    return churn.fit_churn_model(labelled, HORIZON_DAYS, settings, study or new_study("test", None, settings.seed))


def test_tuning_on_a_real_slice_beats_recency(retail_training):
    fold = backtest.folds(retail_training, HORIZON_DAYS, count=1)[0]
    model, report = fit(fold.labelled)
    scores = backtest.fold_scores(fold, model, HORIZON_DAYS)
    truth = scores["churned"].to_numpy()
    model_metrics = classification_metrics(truth, scores["model"].to_numpy())
    assert report.trials == 4 and report.refit_rows == len(fold.labelled)
    assert report.validation_cutoffs == (fold.cutoff - pd.Timedelta(days=HORIZON_DAYS),)
    assert model_metrics["roc_auc"] > classification_metrics(truth, scores["recency"].to_numpy(), scores_are_probabilities=False)["roc_auc"]
    # Sigmoid calibration keeps the booster's ranking.
    assert model_metrics["roc_auc"] == pytest.approx(classification_metrics(truth, scores["model_uncalibrated"].to_numpy())["roc_auc"])


def test_a_model_trained_on_shuffled_labels_scores_chance_on_the_backtest(retail_training):
    fold = backtest.folds(retail_training, HORIZON_DAYS, count=1)[0]
    rng = np.random.default_rng(0)
    shuffled = fold.labelled.assign(churned=rng.permutation(fold.labelled["churned"].to_numpy()))
    model, _ = fit(shuffled)
    truth = fold.evaluation["churned"].to_numpy(dtype=int)
    # The evaluation rows keep their true labels; chance is 0.5 with a standard error of ~0.015 here.
    assert classification_metrics(truth, model.predict(fold.evaluation))["roc_auc"] == pytest.approx(0.5, abs=0.05)


def test_an_interrupted_study_resumes_instead_of_starting_again(retail_training, tmp_path):
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    labelled = backtest.folds(retail_training, HORIZON_DAYS, count=1)[0].labelled
    fit(labelled, QUICK, new_study("resumable", storage, QUICK.seed))  # 4 trials
    first = [trial.params for trial in new_study("resumable", storage, QUICK.seed).trials]
    more = dataclasses.replace(QUICK, n_trials=6)
    _, report = fit(labelled, more, new_study("resumable", storage, QUICK.seed))
    resumed = new_study("resumable", storage, QUICK.seed).trials
    assert report.trials == 6 and [trial.params for trial in resumed[:4]] == first
    # Trial 0 is the hand-set starting point.
    assert resumed[0].params["learning_rate"] == 0.1 and resumed[0].params["num_leaves"] == 7


def test_fitting_is_deterministic(retail_training):
    labelled = backtest.folds(retail_training, HORIZON_DAYS, count=1)[0].labelled
    first, _ = fit(labelled)
    second, _ = fit(labelled)
    assert first.booster.model_to_string() == second.booster.model_to_string()
    assert first.calibrator == second.calibrator


def test_shap_contributions_sum_to_the_log_odds(retail_training):
    labelled = backtest.folds(retail_training, HORIZON_DAYS, count=1)[0].labelled
    model, _ = fit(labelled)
    rows = labelled.head(50)
    contributions = model.contributions(rows)
    raw = model.raw_probabilities(rows)
    expected_value = np.log(raw / (1 - raw)) - contributions.sum(axis=1).to_numpy()
    assert list(contributions.columns) == model.features
    assert np.allclose(expected_value, expected_value[0])  # one shared base value: the rest is per feature


def test_calibration_does_not_count_the_validation_slice_twice(retail_training):
    """The refitted booster learned the validation cutoff's churn rate; the map must not add it again.

    The churn rate rises across these cutoffs, so a level taken from the validation cutoff alone
    lifted every probability of the refitted booster above the rate of the rows it learned from.
    """
    labelled = backtest.folds(retail_training, HORIZON_DAYS, count=1)[0].labelled
    model, _ = fit(labelled)
    learned_rate = labelled["churned"].mean()
    assert model.predict(labelled).mean() == pytest.approx(learned_rate, abs=1e-6)
    assert model.raw_probabilities(labelled).mean() == pytest.approx(learned_rate, abs=0.01)
