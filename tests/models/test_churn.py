from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import churn
from models.metrics import classification_metrics, top_fraction_lift


def synthetic_snapshots(cutoffs: list[str], customers: int = 400, seed: int = 0) -> pd.DataFrame:
    """Snapshots where churn depends on recency, so a model has something to learn."""
    rng = np.random.default_rng(seed)
    frames = []
    for cutoff in cutoffs:
        recency = rng.exponential(60, customers)
        orders = rng.poisson(3, customers) + 1
        churned = rng.random(customers) < 1 / (1 + np.exp(-(recency - 60) / 20))
        frames.append(pd.DataFrame({
            "customer_id": [f"c{i}" for i in range(customers)],
            "cutoff": pd.Timestamp(cutoff),
            "recency_days": recency,
            "orders": orders,
            "future_orders": np.where(churned, 0, 1),
            "future_spend": np.where(churned, 0.0, 10.0),
            "days_to_next_purchase": np.where(churned, np.nan, 5.0),
            "churned": churned,
        }))
    return pd.concat(frames, ignore_index=True)


def test_features_exclude_keys_and_every_label():
    frame = synthetic_snapshots(["2021-01-01"])
    assert churn.feature_columns(frame) == ["recency_days", "orders"]


def test_time_split_fits_only_on_cutoffs_whose_labels_closed_before_validation():
    frame = synthetic_snapshots(["2021-01-01", "2021-02-01", "2021-03-01", "2021-04-01"])
    split = churn.split_by_time(frame, horizon_days=59)
    assert split.validation_cutoff == pd.Timestamp("2021-04-01")
    assert sorted(split.fit["cutoff"].unique()) == [pd.Timestamp("2021-01-01"), pd.Timestamp("2021-02-01")]
    assert (split.validation["cutoff"] == split.validation_cutoff).all()


def test_time_split_refuses_when_no_label_window_has_closed():
    frame = synthetic_snapshots(["2021-01-01", "2021-02-01"])
    with pytest.raises(ValueError, match="no training cutoff"):
        churn.split_by_time(frame, horizon_days=90)


def test_the_model_learns_signal_and_is_evaluated_against_the_baseline():
    frame = synthetic_snapshots(["2021-01-01", "2021-02-01", "2021-05-01"])
    split = churn.split_by_time(frame, horizon_days=90)
    params = churn.lightgbm_params({}, seed=1, num_threads=1)
    booster = churn.fit_with_early_stopping(split, churn.feature_columns(frame), params, 200, 20)
    metrics = churn.evaluate(booster, split)
    assert metrics["model"]["roc_auc"] > 0.75
    assert metrics["recency_baseline"]["roc_auc"] > 0.75
    assert 0 <= metrics["model"]["brier"] < 0.25


def test_shuffled_labels_score_about_chance():
    frame = synthetic_snapshots(["2021-01-01", "2021-02-01", "2021-05-01"], customers=1500)
    frame["churned"] = np.random.default_rng(7).permutation(frame["churned"].to_numpy())
    split = churn.split_by_time(frame, horizon_days=90)
    params = churn.lightgbm_params({}, seed=1, num_threads=1)
    booster = churn.fit_with_early_stopping(split, churn.feature_columns(frame), params, 200, 20)
    assert churn.evaluate(booster, split)["model"]["roc_auc"] == pytest.approx(0.5, abs=0.05)


def test_training_is_deterministic():
    frame = synthetic_snapshots(["2021-01-01", "2021-05-01"])
    params = churn.lightgbm_params({}, seed=3, num_threads=2)
    first = churn.refit(frame, churn.feature_columns(frame), params, 30)
    second = churn.refit(frame, churn.feature_columns(frame), params, 30)
    assert first.model_to_string() == second.model_to_string()


def test_top_decile_lift_known_answer():
    truth = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 2)
    scores = np.array([0.9, 0.8] + [0.1] * 8 + [0.7, 0.6] + [0.1] * 8)
    # Top 10% = 2 rows, both positive; base rate 0.2: lift 5.
    assert top_fraction_lift(truth, scores) == pytest.approx(5.0)
    metrics = classification_metrics(truth, scores)
    assert metrics["roc_auc"] == pytest.approx(1.0)
    assert metrics["positive_rate"] == pytest.approx(0.2)
