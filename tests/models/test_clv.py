from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from models import backtest, clv
from models.metrics import value_metrics
from models.training import TrainingSettings
from models.tuning import new_study
from tests.models.conftest import HORIZON_DAYS, QUICK

QUICK_SPEND = dataclasses.replace(QUICK, lightgbm=QUICK.lightgbm | {"tweedie_variance_power": 1.5})


def fit(labelled: pd.DataFrame, settings: TrainingSettings = QUICK_SPEND, btyd_features: bool = False):
    return clv.fit_clv_model(labelled, HORIZON_DAYS, settings, new_study("test", None, settings.seed), btyd_features=btyd_features)


@pytest.fixture(scope="module")
def fold(retail_training) -> backtest.Fold:
    return backtest.folds(retail_training, HORIZON_DAYS, count=1)[0]


@pytest.fixture(scope="module")
def fitted(fold):
    return fit(fold.labelled)


def test_spend_counts_no_purchase_and_a_net_refund_as_zero():
    frame = pd.DataFrame({"future_spend": [np.nan, -20.0, 0.0, 35.5]})
    assert clv.spend(frame).tolist() == [0.0, 0.0, 0.0, 35.5]


def test_the_spend_model_ranks_real_customers_far_better_than_chance(fold, fitted):
    # The latest fold of this slice (September to December: Christmas orders) is the hardest of its
    # backtest; how the model compares with the BTYD baselines is the backtest's report, not a test.
    model, report = fitted
    scores = backtest.value_fold_scores(fold, clv.spend(fold.evaluation), model.predict(fold.evaluation), HORIZON_DAYS)
    measured = value_metrics(scores["actual_spend"], scores["model"])
    assert report.trials == 4 and report.params["tweedie_variance_power"] == 1.5
    assert measured["normalised_gini"] > 0.4 and measured["top_decile_share"] > 0.3
    assert 0.4 < measured["total_ratio"] < 1.5
    assert (scores["model"] > 0).all()  # a log link: never a negative spend
    assert {"bgnbd_gg", "pnbd_gg"} <= set(scores.columns) and (scores[["bgnbd_gg", "pnbd_gg"]] >= 0).all().all()


def test_a_model_trained_on_shuffled_spend_learns_nothing(fold, fitted):
    # Its ranking is no test: a near-constant model's few splits on noise land on size-like features
    # in either direction (Gini -0.39 to +0.39 over four shuffles of this fold). What it must not
    # do is tell customers apart: its predictions stay within a few percent of one value.
    rng = np.random.default_rng(0)
    shuffled = fold.labelled.assign(future_spend=rng.permutation(fold.labelled["future_spend"].to_numpy()))
    model, _ = fit(shuffled)
    spread = np.std(np.log(model.predict(fold.evaluation)))
    real, _ = fitted
    assert spread < 0.15 and spread < 0.1 * np.std(np.log(real.predict(fold.evaluation)))


def test_btyd_features_are_computed_per_cutoff_and_recomputed_for_new_snapshots(fold):
    model, _ = fit(fold.labelled, btyd_features=True)
    assert model.uses_btyd_features and set(clv.BTYD_FEATURES) <= set(model.features)
    with_features = clv.with_btyd_features(fold.evaluation, HORIZON_DAYS)
    # The snapshot as scored (without the columns) and with them precomputed: the same predictions.
    assert np.allclose(model.predict(fold.evaluation), model.predict(with_features))
    per_cutoff = clv.with_btyd_features(fold.labelled, HORIZON_DAYS)
    latest = fold.labelled["cutoff"] == fold.labelled["cutoff"].max()
    alone = clv.with_btyd_features(fold.labelled[latest], HORIZON_DAYS)
    assert np.allclose(per_cutoff.loc[latest, "btyd_expected_purchases"], alone["btyd_expected_purchases"])


def test_customer_value_gives_every_output_for_every_customer(fold, fitted):
    model, _ = fitted
    value = clv.customer_value(fold.evaluation, model, clv.ValueSettings(lifetime_months=12, annual_discount_rate=0.1))
    assert list(value.index) == list(fold.evaluation.index)
    assert (value[["expected_purchases", "probability_of_purchase", "predicted_spend", "lifetime_value"]] >= 0).all().all()
    assert value[["expected_purchases", "probability_of_purchase", "predicted_spend", "lifetime_value"]].notna().all().all()
    # Twelve months hold more than the 90-day horizon, even discounted.
    assert (value["lifetime_value"] > value["predicted_spend"]).all()
    dated = value["days_to_next_purchase"].dropna()
    assert len(dated) > 0 and (dated > 0).all() and (dated <= clv.NEXT_PURCHASE_MAX_DAYS).all()
    # A customer expected back sooner is one expected to buy more often.
    assert value["days_to_next_purchase"].corr(value["expected_purchases"], method="spearman") < -0.5


def test_a_higher_discount_rate_lowers_lifetime_value_but_not_the_horizon(fold, fitted):
    model, _ = fitted
    low = clv.customer_value(fold.evaluation, model, clv.ValueSettings(12, 0.0))
    high = clv.customer_value(fold.evaluation, model, clv.ValueSettings(12, 0.5))
    assert (high["lifetime_value"] < low["lifetime_value"]).all()
    assert np.array_equal(high["predicted_spend"], low["predicted_spend"])


def test_fitting_is_deterministic(fold, fitted):
    model, _ = fitted
    again, _ = fit(fold.labelled)
    assert model.booster.model_to_string() == again.booster.model_to_string()


def test_shap_contributions_sum_to_the_log_prediction(fold, fitted):
    model, _ = fitted
    rows = fold.evaluation.head(50)
    base = np.log(model.predict(rows)) - model.contributions(rows).sum(axis=1).to_numpy()
    assert np.allclose(base, base[0])


def test_the_spend_if_retained_is_learned_from_the_customers_who_stayed(fold, fitted):
    model, _ = fitted
    if_retained, overall = model.predict_if_retained(fold.evaluation), model.predict(fold.evaluation)
    stayed = ~fold.evaluation["churned"].to_numpy(dtype=bool)
    # A customer who stays spends more than the average over stayers and leavers.
    assert np.median(if_retained / overall) > 1.5
    measured = value_metrics(clv.spend(fold.evaluation)[stayed], if_retained[stayed])
    assert measured["normalised_gini"] > 0.3 and 0.5 < measured["total_ratio"] < 1.5
