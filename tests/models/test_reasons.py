from __future__ import annotations

import numpy as np
import pandas as pd

from models import churn
from models.reasons import explain, phrase, top_reasons
from models.tuning import new_study
from tests.models.conftest import HORIZON_DAYS, QUICK


def test_recency_is_phrased_against_the_customers_usual_rhythm():
    assert phrase("recency_days", {"recency_days": 142.2, "mean_gap_days": 30.4}) == "no purchase for 142 days, usually every 30"
    assert phrase("recency_days", {"recency_days": 142.2, "mean_gap_days": np.nan}) == "no purchase for 142 days, and only one before"
    assert phrase("recency_days", {"recency_days": np.nan}) == "no purchase yet"


def test_window_and_trend_features_name_their_window():
    customer = {"spend_90d": 0.0, "orders_trend_30d": 0.5, "events_login_30d": 3.0, "spend_trend_90d": np.nan}
    assert phrase("spend_90d", customer) == "spent 0 in the last 90 days"
    assert phrase("orders_trend_30d", customer) == "purchases in the last 30 days at 50% of the 30 days before"
    assert phrase("events_login_30d", customer) == "3 login event(s) in the last 30 days"
    assert phrase("spend_trend_90d", customer) == "no spend in the 90 days before the last 90"


def test_an_unknown_feature_is_still_named():
    assert phrase("customer_channel", {"customer_channel": "web"}) == "customer_channel is web"


def test_top_reasons_name_only_what_raises_the_risk_strongest_first_without_repeats():
    snapshot = pd.DataFrame({"recency_days": [200.0, 5.0], "mean_gap_days": [np.nan, 10.0], "overdue_ratio": [np.nan, 0.5], "orders": [1, 9]})
    contributions = pd.DataFrame(
        {"recency_days": [0.9, -0.5], "mean_gap_days": [0.4, -0.1], "overdue_ratio": [0.3, -0.2], "orders": [0.2, -0.3]}
    )
    reasons = top_reasons(snapshot, contributions, count=3)
    # The one-time buyer's gap and overdue ratio say the same thing once.
    assert reasons[0] == "no purchase for 200 days, and only one before; one purchase day so far; 1 purchase(s) in all"
    assert reasons[1] == ""


def test_reasons_explained_a_batch_at_a_time_are_everyones_at_once(retail_training):
    model, _ = churn.fit_churn_model(retail_training, HORIZON_DAYS, QUICK, new_study("reasons", None, QUICK.seed))
    latest = retail_training[retail_training["cutoff"] == retail_training["cutoff"].max()]
    everyone = top_reasons(latest, model.contributions(latest))
    assert everyone.str.len().gt(0).mean() > 0.5
    pd.testing.assert_series_equal(explain(latest, model, batch_rows=97), everyone)
    assert explain(latest.head(0), model).empty
