"""Every model named in params.yaml's train.models keeps the contract the generic train stage relies on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models import backtest
from models.base import procedure
from models.tuning import new_study
from pipeline import artifacts, config
from tests.conftest import ROOT
from tests.models.conftest import HORIZON_DAYS, QUICK

PARAMS = config.load_params(ROOT / "params.yaml")


@pytest.mark.parametrize("name", PARAMS.train.models)
def test_a_model_fits_judges_plots_and_comes_back_from_disk_the_same(name, retail_training, tmp_path):
    own = PARAMS.model_section(name).get(name, {})
    chosen = procedure(name)(dataclasses.replace(QUICK, lightgbm=QUICK.lightgbm | own.get("lightgbm", {})), own, HORIZON_DAYS)
    fold = backtest.folds(retail_training, HORIZON_DAYS, 1)[-1]
    model, report = chosen.fit(fold.labelled, new_study(f"contract-{name}", None, QUICK.seed))
    assert isinstance(model, chosen.model_type) and report.trials == QUICK.n_trials

    rows = chosen.evaluate(fold, model)
    assert len(rows) == len(fold.evaluation) and {"customer_id", "cutoff", chosen.truth, backtest.MODEL} <= set(rows.columns)
    overall, _ = backtest.summary(rows, replicates=50, seed=0)
    assert set(chosen.headline) <= set(overall[backtest.MODEL])  # what `churn train` prints is measured
    assert set(chosen.plot_points(rows)) == set(chosen.curves)

    artifacts.save_model(model, tmp_path)
    loaded = artifacts.load_model(chosen.model_type, tmp_path)
    assert np.array_equal(loaded.predict(fold.evaluation), model.predict(fold.evaluation))
    assert set(loaded.boosters()) == set(model.boosters())


def test_a_name_without_a_procedure_is_refused():
    with pytest.raises(TypeError, match="defines no PROCEDURE"):
        procedure("metrics")  # a module of models/, not a model


def test_train_models_must_be_files_of_models_and_other_sections_theirs(tmp_path):
    raw = PARAMS.model_dump(mode="json")
    with pytest.raises(config.ValidationError, match="train.models"):
        config.Params.model_validate(raw | {"train": raw["train"] | {"models": ["churn", "no_such_model"]}})
    with pytest.raises(config.ValidationError, match="unknown sections spend"):
        config.Params.model_validate(raw | {"spend": {"lightgbm": {}}})
    # A model added to train.models brings its own section, which only its procedure reads.
    added = config.Params.model_validate(raw | {"train": raw["train"] | {"models": ["churn", "clv", "btyd"]}, "btyd": {"penalizer": 0.01}})
    assert added.model_section("btyd") == {"btyd": {"penalizer": 0.01}}
