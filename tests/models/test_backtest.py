from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import backtest
from models.errors import InsufficientData
from tests.models.test_training import synthetic_snapshots


def test_folds_are_the_latest_cutoffs_with_a_usable_history():
    frame = synthetic_snapshots([f"2021-{month:02d}-01" for month in range(1, 9)])
    folds = backtest.folds(frame, horizon_days=59, count=3)
    assert [fold.cutoff for fold in folds] == [pd.Timestamp(f"2021-{month:02d}-01") for month in (6, 7, 8)]
    for fold in folds:
        # Only snapshots whose label windows had closed by the fold's cutoff.
        assert (fold.labelled["cutoff"] + pd.Timedelta(days=59) <= fold.cutoff).all()
        assert (fold.evaluation["cutoff"] == fold.cutoff).all()


def test_a_short_history_gives_the_folds_it_holds_and_none_is_a_clear_error():
    frame = synthetic_snapshots(["2021-01-01", "2021-03-01", "2021-05-01"])
    assert [fold.cutoff for fold in backtest.folds(frame, horizon_days=59, count=5)] == [pd.Timestamp("2021-03-01"), pd.Timestamp("2021-05-01")]
    with pytest.raises(InsufficientData, match="at least two horizons plus features.min_history_days"):
        backtest.folds(synthetic_snapshots(["2021-04-01", "2021-05-01"]), horizon_days=59, count=2)


def scored_folds(seed: int = 1, customers: int = 600) -> pd.DataFrame:
    """Three overlapping folds of the same customers: a model that knows something, a baseline that knows less."""
    rng = np.random.default_rng(seed)
    parts = []
    for cutoff in ("2021-01-01", "2021-02-01", "2021-03-01"):
        truth = rng.random(customers) < 0.4
        parts.append(pd.DataFrame({
            "customer_id": np.arange(customers), "cutoff": pd.Timestamp(cutoff), "churned": truth.astype(int),
            "model": np.clip(0.2 + 0.2 * truth + 0.5 * rng.random(customers), 0, 1), "model_uncalibrated": rng.random(customers),
            "recency": truth * 0.2 + rng.random(customers), "rfm_cells": rng.random(customers),
        }))
    return pd.concat(parts, ignore_index=True)


def test_summary_is_the_mean_over_folds_with_an_interval_around_it():
    scores = scored_folds()
    overall, paired = backtest.summary(scores, replicates=100, seed=0)
    per_fold = backtest.fold_metrics(scores)
    auc = overall["model"]["roc_auc"]
    assert auc["mean"] == pytest.approx(np.mean([fold["model"]["roc_auc"] for fold in per_fold.values()]))
    assert auc["low"] < auc["mean"] < auc["high"] and auc["high"] - auc["low"] < 0.1
    # The model knows more than recency, which knows more than chance (rfm_cells is noise here).
    assert paired["recency"]["roc_auc"]["low"] > 0 and paired["rfm_cells"]["roc_auc"]["low"] > paired["recency"]["roc_auc"]["high"]
    assert paired["recency"]["roc_auc"]["advantage"] == pytest.approx(auc["mean"] - overall["recency"]["roc_auc"]["mean"])
    assert "model_uncalibrated" not in paired and "brier" not in paired["recency"]  # recency ranks; it has no probabilities


def test_a_baseline_identical_to_the_model_has_no_advantage_and_no_spread():
    scores = scored_folds().assign(recency=lambda frame: frame["model"])
    _, paired = backtest.summary(scores, replicates=50, seed=0)
    assert paired["recency"]["roc_auc"] == {"advantage": 0.0, "low": 0.0, "high": 0.0}


def test_paired_advantage_of_a_challenger_over_a_champion_is_signed_for_losses():
    scores = scored_folds().rename(columns={"model": "challenger", "model_uncalibrated": "champion"})[["customer_id", "cutoff", "churned", "challenger", "champion"]]
    for metric in ("roc_auc", "brier"):
        paired = backtest.paired_advantage(scores, metric, replicates=100, seed=0)
        assert paired["low"] > 0, metric  # the random champion is worse on either, lower Brier being better
    flipped = backtest.paired_advantage(scores.rename(columns={"challenger": "champion", "champion": "challenger"}), "brier", replicates=100, seed=0)
    assert flipped["high"] < 0


def test_curves_cover_every_method_and_calibration_only_probabilities():
    rng = np.random.default_rng(1)
    truth = rng.random(500) < 0.3
    scores = pd.DataFrame({"customer_id": range(500), "cutoff": pd.Timestamp("2021-01-01"), "churned": truth.astype(int),
                           "model": np.clip(truth * 0.3 + rng.random(500) * 0.7, 0, 1), "model_uncalibrated": rng.random(500),
                           "recency": rng.random(500), "rfm_cells": rng.random(500)})
    curves = backtest.curves(scores)
    assert set(curves["roc"]) == {"model", "recency", "rfm_cells"}
    assert set(curves["calibration"]) == {"model", "model_uncalibrated", "rfm_cells"}
    gains = curves["gains"]["model"]
    assert gains.iloc[0].tolist() == [0.0, 0.0] and gains.iloc[-1].tolist() == [1.0, 1.0]
    assert gains["positives_share"].is_monotonic_increasing

