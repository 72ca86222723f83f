from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pandas as pd
import pytest

from models import backtest, churn
from models.metrics import calibration_error, classification_metrics
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


def test_a_model_trained_on_shuffled_labels_learns_nothing(retail_training):
    # Its ranking is no test: a near-constant booster's few splits on noise land on recency-like
    # features in either direction (ROC AUC 0.61 with this seed). What it must not do is tell
    # customers apart: its log-odds stay within a small fraction of the real model's spread.
    fold = backtest.folds(retail_training, HORIZON_DAYS, count=1)[0]
    rng = np.random.default_rng(0)
    shuffled = fold.labelled.assign(churned=rng.permutation(fold.labelled["churned"].to_numpy()))
    model, _ = fit(shuffled)
    real, _ = fit(fold.labelled)

    def spread(booster_model) -> float:
        raw = booster_model.raw_probabilities(fold.evaluation)
        return float(np.std(np.log(raw / (1 - raw))))

    assert spread(model) < 0.15 and spread(model) < 0.1 * spread(real)


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


def churn_rate_shifting_snapshots(rates: list[float], customers: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Monthly snapshots (30 days apart) of customers whose churn depends on one feature, at a base rate per cutoff."""
    rng = np.random.default_rng(seed)
    frames = []
    for cutoff, rate in zip(pd.date_range("2021-01-01", periods=len(rates), freq="30D"), rates, strict=True):
        signal, noise = rng.normal(size=customers), rng.normal(size=customers)
        base = np.log(rate / (1 - rate))
        churned = rng.random(customers) < 1 / (1 + np.exp(-(base + 1.2 * signal)))
        frames.append(pd.DataFrame({
            "customer_id": [f"c{i}" for i in range(customers)], "cutoff": cutoff, "signal": signal, "noise": noise,
            "future_orders": (~churned).astype(int), "future_spend": np.where(churned, 0.0, 50.0),
            "days_to_next_purchase": np.nan, "churned": churned,
        }))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_follows_a_churn_rate_that_shifted_between_fit_and_validation(method):
    """The rate steps from 0.2 to 0.45 halfway and stays there. The refitted booster averages the
    two regimes; calibration must bring the next window's probabilities to its rate. Fails if
    calibration is a no-op (as levelling to the rows the booster learned from was) or makes it worse."""
    frame = churn_rate_shifting_snapshots([0.2] * 4 + [0.45] * 5)
    labelled, held_out = frame[frame["cutoff"] < frame["cutoff"].max()], frame[frame["cutoff"] == frame["cutoff"].max()]
    model, _ = churn.fit_churn_model(labelled, 30, QUICK, new_study("shift", None, 1), calibration=method)
    truth = churn.churned(held_out)
    raw, calibrated = model.raw_probabilities(held_out), model.predict(held_out)
    assert calibration_error(truth, calibrated) < calibration_error(truth, raw) - 0.05
    assert calibration_error(truth, calibrated) < 0.04
    assert "latest 1" in model.calibrator.level_rule


def test_where_the_rate_holds_steady_the_level_is_the_boosters_own_and_no_worse():
    frame = churn_rate_shifting_snapshots([0.3] * 9, seed=1)
    labelled, held_out = frame[frame["cutoff"] < frame["cutoff"].max()], frame[frame["cutoff"] == frame["cutoff"].max()]
    model, _ = churn.fit_churn_model(labelled, 30, QUICK, new_study("steady", None, 1))
    assert model.calibrator.level_rule.startswith("the booster's own level")
    assert model.predict(labelled).mean() == pytest.approx(labelled["churned"].mean(), abs=1e-6)
    truth = churn.churned(held_out)
    assert calibration_error(truth, model.predict(held_out)) <= calibration_error(truth, model.raw_probabilities(held_out)) + 0.01


def test_churn_rates_count_each_row_as_the_customers_it_stands_for():
    frame = pd.DataFrame({
        "cutoff": pd.to_datetime(["2021-01-01"] * 3 + ["2021-02-01"] * 2),
        "churned": [True, False, False, True, False],
        "sample_weight": [1.0, 3.0, 3.0, 2.0, 2.0],
    })
    rates, customers = churn.churn_rates(frame)
    assert rates.tolist() == [1 / 7, 0.5] and customers.tolist() == [7.0, 4.0]
    unweighted, counted = churn.churn_rates(frame.drop(columns="sample_weight"))
    assert unweighted.tolist() == [1 / 3, 0.5] and counted.tolist() == [3.0, 2.0]
