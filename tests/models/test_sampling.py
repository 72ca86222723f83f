from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from models import backtest, churn
from models.metrics import classification_metrics
from models.sampling import WEIGHT, sample
from models.tuning import new_study
from tests.models.conftest import HORIZON_DAYS, QUICK

ROWS = 300  # per cutoff: the real slice holds 431 to 1,345 customers at each


def test_a_sample_keeps_each_cutoffs_churn_rate_and_weighs_to_its_customers(retail_training):
    sampled = sample(retail_training, ROWS, seed=42)
    per_cutoff = sampled.groupby("cutoff").size()
    assert per_cutoff.index.equals(retail_training.groupby("cutoff").size().index)
    assert per_cutoff.between(ROWS, ROWS + 1).all()  # each outcome's share rounded up
    full_rates, sampled_rates = (frame.groupby("cutoff")["churned"].mean() for frame in (retail_training, sampled))
    assert (full_rates - sampled_rates).abs().max() < 2 / ROWS
    weighed = sampled.groupby(["cutoff", "churned"])[WEIGHT].sum()
    assert np.allclose(weighed, retail_training.groupby(["cutoff", "churned"]).size().reindex(weighed.index))
    pd.testing.assert_frame_equal(sampled.drop(columns=WEIGHT), retail_training.loc[sampled.index])  # rows unchanged


def test_the_sample_is_the_same_on_every_draw_and_moves_with_the_seed(retail_training):
    first, second, other = (sample(retail_training, ROWS, seed) for seed in (42, 42, 7))
    pd.testing.assert_frame_equal(first, second)
    assert len(first.index.intersection(other.index)) < 0.5 * len(first)


def test_within_the_size_nothing_is_sampled_and_a_sample_of_a_sample_multiplies_the_weights(retail_training):
    largest = int(retail_training.groupby("cutoff").size().max())
    assert sample(retail_training, largest, seed=42) is retail_training and sample(retail_training, None, seed=42) is retail_training
    twice = sample(sample(retail_training, 2 * ROWS, seed=42), ROWS, seed=42)
    weighed = twice.groupby(["cutoff", "churned"])[WEIGHT].sum()
    assert np.allclose(weighed, retail_training.groupby(["cutoff", "churned"]).size().reindex(weighed.index))


def judged(labelled: pd.DataFrame, evaluation: pd.DataFrame, settings=QUICK) -> tuple[float, float]:
    model, _ = churn.fit_churn_model(labelled, HORIZON_DAYS, settings, new_study("sampled", None, settings.seed))
    probabilities = model.predict(evaluation)
    return classification_metrics(churn.churned(evaluation), probabilities)["roc_auc"], float(probabilities.mean())


def test_a_model_learnt_from_a_sample_ranks_and_levels_as_one_learnt_from_everyone(retail_training):
    fold = backtest.folds(retail_training, HORIZON_DAYS, count=1)[0]
    full_auc, full_level = judged(fold.labelled, fold.evaluation)
    for learnt, searched in ((sample(fold.labelled, 2 * ROWS, seed=42), None), (fold.labelled, ROWS)):
        auc, level = judged(learnt, fold.evaluation, dataclasses.replace(QUICK, search_rows_per_cutoff=searched))
        assert auc > full_auc - 0.03
        assert abs(level - full_level) < 0.03
