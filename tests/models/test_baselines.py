from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.baselines import RfmCellRates, bgnbd_expected_purchases, recency_scores


def test_bgnbd_expects_fewer_purchases_from_customers_gone_quiet(cdnow_sample):
    features = cdnow_sample
    expected = bgnbd_expected_purchases(features, horizon_days=273)
    frequent = features["purchase_days"] >= 5
    assert np.isfinite(expected).all() and (expected >= 0).all()
    quiet, recent = frequent & (features["recency_days"] > 150), frequent & (features["recency_days"] < 30)
    assert expected[quiet.to_numpy()].mean() < expected[recent.to_numpy()].mean()


def test_rfm_cell_rates_learn_from_training_rows_and_fall_back_to_the_overall_rate():
    rng = np.random.default_rng(0)
    training = pd.DataFrame({"recency_days": rng.uniform(0, 300, 5000), "orders": rng.integers(1, 10, 5000),
                             "net_spend": rng.uniform(1, 1000, 5000)})
    training["churned"] = rng.random(5000) < training["recency_days"] / 300
    rates = RfmCellRates(training)
    new = pd.DataFrame({"recency_days": [10.0, 290.0, np.nan], "orders": [5, 5, np.nan], "net_spend": [500.0, 500.0, np.nan]})
    old_customer, recent_customer, never_bought = rates(new)[1], rates(new)[0], rates(new)[2]
    assert old_customer > 0.7 and recent_customer < 0.3
    assert never_bought == pytest.approx(training["churned"].mean())


def test_recency_ranks_a_subscriber_who_never_bought_as_the_likeliest_to_churn():
    scores = recency_scores(pd.DataFrame({"recency_days": [5.0, np.nan, 300.0]}))
    assert scores.argmax() == 1 and np.isfinite(scores).all()
