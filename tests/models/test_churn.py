from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pandas as pd
import pytest

from models import backtest, churn
from models.metrics import classification_metrics
from models.tuning import new_study
from tests.models.conftest import HORIZON_DAYS

QUICK = churn.TrainingSettings(lightgbm={"learning_rate": 0.1, "num_leaves": 7}, n_trials=4, max_rounds=200, early_stopping_rounds=20)


def fit(labelled: pd.DataFrame, settings: churn.TrainingSettings = QUICK, study: optuna.Study | None = None):
    return churn.fit_churn_model(labelled, HORIZON_DAYS, settings, study or new_study("test", None, settings.seed))


def synthetic_snapshots(cutoffs: list[str], customers: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"customer_id": f"c{i}", "cutoff": pd.Timestamp(cutoff), "recency_days": float(i), "orders": 1,
             "future_orders": 0, "future_spend": 0.0, "days_to_next_purchase": np.nan, "churned": bool(i % 2)}
            for cutoff in cutoffs for i in range(customers)
        ]
    )


def test_features_exclude_keys_and_every_label():
    assert churn.feature_columns(synthetic_snapshots(["2021-01-01"])) == ["recency_days", "orders"]


def test_time_split_fits_only_on_cutoffs_whose_labels_closed_before_validation():
    frame = synthetic_snapshots(["2021-01-01", "2021-02-01", "2021-03-01", "2021-04-01"])
    split = churn.split_by_time(frame, horizon_days=59)
    assert split.validation_cutoffs == (pd.Timestamp("2021-04-01"),)
    assert sorted(split.fit["cutoff"].unique()) == [pd.Timestamp("2021-01-01"), pd.Timestamp("2021-02-01")]
    assert (split.validation["cutoff"] == pd.Timestamp("2021-04-01")).all()


def test_pooled_validation_fits_only_before_the_first_validation_cutoffs_labels_closed():
    frame = synthetic_snapshots([f"2021-{month:02d}-01" for month in range(1, 7)])
    split = churn.split_by_time(frame, horizon_days=59, validation_cutoffs=2)
    assert split.validation_cutoffs == (pd.Timestamp("2021-05-01"), pd.Timestamp("2021-06-01"))
    assert sorted(split.fit["cutoff"].unique()) == [pd.Timestamp(f"2021-{month:02d}-01") for month in (1, 2, 3)]
    assert len(split.validation) == 2 * 50


def test_time_split_refuses_when_no_label_window_has_closed():
    with pytest.raises(ValueError, match="no training cutoff"):
        churn.split_by_time(synthetic_snapshots(["2021-01-01", "2021-02-01"]), horizon_days=90)


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
