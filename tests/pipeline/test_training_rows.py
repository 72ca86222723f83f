from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import backtest, churn
from models.metrics import classification_metrics
from models.training import WEIGHT
from models.tuning import new_study
from pipeline import config, train, training_rows
from tests.conftest import ROOT
from tests.models.conftest import HORIZON_DAYS, QUICK, retail_snapshots

ROWS = 300  # per cutoff: the real slice holds 500 to 800 customers at each


@pytest.fixture(scope="module")
def retail_training() -> pd.DataFrame:
    return retail_snapshots()


@pytest.fixture
def snapshots(retail_training, tmp_path):
    path = tmp_path / "training.parquet"
    retail_training.to_parquet(path)
    return path


def test_a_sample_keeps_each_cutoffs_churn_rate_and_weighs_to_its_customers(retail_training, snapshots):
    sample = training_rows.read(snapshots, ROWS, seed=42)
    per_cutoff = sample.groupby("cutoff").size()
    assert per_cutoff.index.equals(retail_training.groupby("cutoff").size().index)
    assert per_cutoff.between(ROWS, ROWS + 2).all()  # each outcome's share rounded up
    full_rates, sampled_rates = (frame.groupby("cutoff")["churned"].mean() for frame in (retail_training, sample))
    assert (full_rates - sampled_rates).abs().max() < 2 / ROWS
    weighed = sample.groupby(["cutoff", "churned"])[WEIGHT].sum()
    assert np.allclose(weighed, retail_training.groupby(["cutoff", "churned"]).size().reindex(weighed.index))
    # Every sampled row is a row of the file, unchanged.
    again = sample.drop(columns=WEIGHT).merge(retail_training, how="left", indicator=True)
    assert (again["_merge"] == "both").all() and len(again) == len(sample)
    assert sample.drop(columns=WEIGHT).dtypes.equals(retail_training.dtypes)


def test_the_sample_is_the_same_on_every_read_and_moves_with_the_seed(snapshots):
    first, second, other = (training_rows.read(snapshots, ROWS, seed) for seed in (42, 42, 7))
    pd.testing.assert_frame_equal(first, second)
    assert not first["customer_id"].equals(other["customer_id"])


def test_a_file_within_the_size_is_read_whole_and_unweighted(retail_training, snapshots):
    largest = int(retail_training.groupby("cutoff").size().max())
    for rows in (largest, None):
        pd.testing.assert_frame_equal(training_rows.read(snapshots, rows, seed=42), retail_training)


def test_a_model_learnt_from_the_sample_ranks_and_levels_as_one_learnt_from_everyone(retail_training, snapshots):
    full = backtest.folds(retail_training, HORIZON_DAYS, count=1)[0]
    sample = training_rows.read(snapshots, ROWS, seed=42)
    sampled = backtest.folds(sample, HORIZON_DAYS, count=1, snapshot_at=lambda cutoff: training_rows.at_cutoff(snapshots, cutoff))[0]
    pd.testing.assert_frame_equal(sampled.evaluation, full.evaluation.reset_index(drop=True))
    judged = {}
    for name, fold in (("full", full), ("sampled", sampled)):
        model, report = churn.fit_churn_model(fold.labelled, HORIZON_DAYS, QUICK, new_study(name, None, QUICK.seed))
        probabilities = model.predict(fold.evaluation)
        judged[name] = classification_metrics(churn.churned(fold.evaluation), probabilities)["roc_auc"], probabilities.mean()
    assert report.refit_rows == len(sampled.labelled) < len(full.labelled) / 1.5
    (full_auc, full_level), (sampled_auc, sampled_level) = judged["full"], judged["sampled"]
    assert sampled_auc > full_auc - 0.03
    assert abs(sampled_level - full_level) < 0.03


def test_the_train_stage_learns_from_the_sample_and_judges_every_customer(retail_training, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config.TRAINING_SNAPSHOTS.parent.mkdir(parents=True)
    retail_training.to_parquet(config.TRAINING_SNAPSHOTS)
    params = config.load_params(ROOT / "params.yaml")
    sample = training_rows.read(config.TRAINING_SNAPSHOTS, ROWS, params.train.seed)
    for fold in train.trainable_folds(sample, params):
        assert len(fold.evaluation) == (retail_training["cutoff"] == fold.cutoff).sum()
        assert fold.labelled[WEIGHT].gt(1).any() and fold.labelled.groupby("cutoff").size().max() <= ROWS + 2
