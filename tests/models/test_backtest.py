from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import backtest
from tests.models.test_training import synthetic_snapshots


def test_folds_are_the_latest_cutoffs_with_a_usable_history():
    frame = synthetic_snapshots([f"2021-{month:02d}-01" for month in range(1, 9)])
    folds = backtest.folds(frame, horizon_days=59, count=3)
    assert [fold.cutoff for fold in folds] == [pd.Timestamp(f"2021-{month:02d}-01") for month in (6, 7, 8)]
    for fold in folds:
        # Only snapshots whose label windows had closed by the fold's cutoff.
        assert (fold.labelled["cutoff"] + pd.Timedelta(days=59) <= fold.cutoff).all()
        assert (fold.evaluation["cutoff"] == fold.cutoff).all()


def test_too_few_cutoffs_for_the_folds_is_a_clear_error():
    frame = synthetic_snapshots(["2021-01-01", "2021-03-01", "2021-05-01"])
    with pytest.raises(ValueError, match="raise features.training_cutoffs or lower train.backtest_folds or train.validation_cutoffs"):
        backtest.folds(frame, horizon_days=59, count=2)


def test_summary_is_mean_and_sample_sd_over_folds():
    per_fold = {"f1": {"model": {"roc_auc": 0.7}}, "f2": {"model": {"roc_auc": 0.8}}, "f3": {"model": {"roc_auc": 0.9}}}
    summary = backtest.summary(per_fold)["model"]["roc_auc"]
    assert summary["mean"] == pytest.approx(0.8) and summary["sd"] == pytest.approx(0.1)


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

