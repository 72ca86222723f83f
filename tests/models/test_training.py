from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models import training
from models.errors import InsufficientData
from models.churn import OBJECTIVE, churned


def synthetic_snapshots(cutoffs: list[str], customers: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"customer_id": f"c{i}", "cutoff": pd.Timestamp(cutoff), "recency_days": float(i), "orders": 1,
             "future_orders": 0, "future_spend": 0.0, "days_to_next_purchase": np.nan, "churned": bool(i % 2)}
            for cutoff in cutoffs for i in range(customers)
        ]
    )


def test_features_exclude_keys_and_every_label():
    assert training.feature_columns(synthetic_snapshots(["2021-01-01"])) == ["recency_days", "orders"]


def test_a_samples_weights_are_no_feature_and_weigh_each_row_in_lightgbm():
    frame = synthetic_snapshots(["2021-01-01"]).assign(**{training.WEIGHT: 3.0})
    features = training.feature_columns(frame)
    assert features == ["recency_days", "orders"]
    assert np.array_equal(training.dataset(frame, features, churned(frame)).construct().get_weight(), np.full(len(frame), 3.0))
    assert training.dataset(frame.drop(columns=training.WEIGHT), features, churned(frame)).construct().get_weight() is None


def test_time_split_fits_only_on_cutoffs_whose_labels_closed_before_validation():
    frame = synthetic_snapshots(["2021-01-01", "2021-02-01", "2021-03-01", "2021-04-01"])
    split = training.validation_split(frame, horizon_days=59)
    assert split.by == "time"
    assert split.validation_cutoffs == (pd.Timestamp("2021-04-01"),)
    assert sorted(split.fit["cutoff"].unique()) == [pd.Timestamp("2021-01-01"), pd.Timestamp("2021-02-01")]
    assert (split.validation["cutoff"] == pd.Timestamp("2021-04-01")).all()


def test_pooled_validation_fits_only_before_the_first_validation_cutoffs_labels_closed():
    frame = synthetic_snapshots([f"2021-{month:02d}-01" for month in range(1, 7)])
    split = training.validation_split(frame, horizon_days=59, validation_cutoffs=2)
    assert split.validation_cutoffs == (pd.Timestamp("2021-05-01"), pd.Timestamp("2021-06-01"))
    assert sorted(split.fit["cutoff"].unique()) == [pd.Timestamp(f"2021-{month:02d}-01") for month in (1, 2, 3)]
    assert len(split.validation) == 2 * 50


def test_a_history_too_short_to_validate_by_time_validates_on_held_out_customers():
    frame = synthetic_snapshots(["2021-01-01", "2021-02-01"], customers=400)
    split = training.validation_split(frame, horizon_days=90)
    assert split.by == "customer" and split.validation_cutoffs == (pd.Timestamp("2021-02-01"),)
    assert (split.validation["cutoff"] == pd.Timestamp("2021-02-01")).all()
    # No customer is on both sides, at any cutoff: their rows at neighbouring cutoffs are nearly the same.
    assert set(split.fit["customer_id"]).isdisjoint(split.validation["customer_id"])
    assert 0.18 < split.validation["customer_id"].nunique() / 400 < 0.32
    assert set(split.fit["cutoff"]) == {pd.Timestamp("2021-01-01"), pd.Timestamp("2021-02-01")}
    # The same customers are held out whichever rows are asked about.
    again = training.validation_split(frame.sample(frac=1.0, random_state=3), horizon_days=90)
    assert set(again.validation["customer_id"]) == set(split.validation["customer_id"])


def test_too_few_of_either_outcome_stops_with_a_sentence():
    frame = synthetic_snapshots(["2021-01-01", "2021-04-01"], customers=30)
    with pytest.raises(InsufficientData, match=r"the final fit: the fitting snapshots hold 15 customers who left and 15 who stayed; at least 20 of each"):
        training.require_both_outcomes(frame, 59, 1, 20, "the final fit")
    frame["churned"] = True
    with pytest.raises(InsufficientData, match="0 who stayed"):
        training.require_both_outcomes(frame, 59, 1, 1, "the final fit")
    training.require_both_outcomes(synthetic_snapshots(["2021-01-01", "2021-04-01"], customers=200), 59, 1, 20, "the final fit")


def test_cross_validated_predictions_know_as_much_as_the_features_do():
    rng = np.random.default_rng(0)
    rows = 2000
    signal = rng.normal(size=rows)
    frame = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(rows)], "cutoff": pd.Timestamp("2021-01-01"),
        "signal": signal, "noise": rng.normal(size=rows), "churned": rng.random(rows) < 1 / (1 + np.exp(-2 * signal)),
    })
    settings = training.TrainingSettings(lightgbm={"learning_rate": 0.1, "num_leaves": 4}, max_rounds=200, early_stopping_rounds=20)

    best_possible = roc_auc_score(frame["churned"], frame["signal"])
    learned = roc_auc_score(frame["churned"], training.cross_validated_predictions(frame, churned, settings, OBJECTIVE))
    assert best_possible - 0.03 < learned <= best_possible + 0.01
    shuffled = frame.assign(churned=rng.permutation(frame["churned"].to_numpy()))
    assert roc_auc_score(shuffled["churned"], training.cross_validated_predictions(shuffled, churned, settings, OBJECTIVE)) == pytest.approx(0.5, abs=0.05)
