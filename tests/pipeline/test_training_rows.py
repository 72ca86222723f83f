from __future__ import annotations

import pandas as pd
import pytest

from models.sampling import WEIGHT, sample
from pipeline import config, train, training_rows
from tests.conftest import ROOT
from tests.models.conftest import retail_snapshots

ROWS = 300  # per cutoff: the real slice holds 431 to 1,345 customers at each


@pytest.fixture(scope="module")
def retail_training() -> pd.DataFrame:
    return retail_snapshots()


@pytest.fixture
def snapshots(retail_training, tmp_path):
    path = tmp_path / "training.parquet"
    retail_training.to_parquet(path, row_group_size=1000)  # several row groups, as a large file has
    return path


def test_the_file_read_is_the_sample_of_its_rows(retail_training, snapshots):
    read = training_rows.read(snapshots, ROWS, seed=42)
    drawn = sample(retail_training, ROWS, seed=42)
    pd.testing.assert_frame_equal(read, drawn.reset_index(drop=True))
    assert read[WEIGHT].gt(1).all()


def test_a_file_within_the_size_is_read_whole_and_unweighted(retail_training, snapshots):
    largest = int(retail_training.groupby("cutoff").size().max())
    for rows in (largest, None):
        pd.testing.assert_frame_equal(training_rows.read(snapshots, rows, seed=42), retail_training)


def test_the_train_stage_learns_from_the_sample_and_judges_every_customer(retail_training, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config.TRAINING_SNAPSHOTS.parent.mkdir(parents=True)
    retail_training.to_parquet(config.TRAINING_SNAPSHOTS)
    params = config.load_params(ROOT / "params.yaml")
    learnt = training_rows.read(config.TRAINING_SNAPSHOTS, ROWS, params.train.seed)
    for fold in train.trainable_folds(learnt, params):
        pd.testing.assert_frame_equal(fold.evaluation, retail_training[retail_training["cutoff"] == fold.cutoff].reset_index(drop=True))
        assert fold.labelled[WEIGHT].gt(1).all() and fold.labelled.groupby("cutoff").size().max() <= ROWS + 1
