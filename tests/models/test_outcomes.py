from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import outcomes
from models.campaign import CampaignSettings

SETTINGS = CampaignSettings(budget=22.0, contact_cost=1.0, offer_cost=10.0, margin=0.5, acceptance_alpha=6, acceptance_beta=14, control_share=0.0)


def listed(p, spend_if_retained, selected, control=None):
    p, spend_if_retained = np.asarray(p, dtype=float), np.asarray(spend_if_retained, dtype=float)
    return pd.DataFrame({
        "customer_id": pd.Series([f"c{i}" for i in range(len(p))], dtype="string"),
        "churn_probability": p,
        "spend_if_retained": spend_if_retained,
        "predicted_spend": (1 - p) * spend_if_retained,
        "value_at_risk": p * spend_if_retained,
        "expected_profit": p * 0.3 * (0.5 * spend_if_retained - 10) - (1 - p) * 10 - 1,
        "selected_for_campaign": selected,
        "control_group": [False] * len(p) if control is None else control,
    })


def test_each_figure_of_a_small_list_by_hand():
    customers = listed([0.8, 0.6, 0.2, 0.1], [200.0, 100.0, 50.0, 40.0], [True, True, False, False])
    evaluation = pd.DataFrame({
        "customer_id": ["c3", "c2", "c1", "c0"],  # in another order than the list
        "churned": [False, False, True, True],
        "future_spend": [30.0, 70.0, np.nan, 0.0],
    })
    rows = outcomes.outcomes(customers, evaluation)
    assert rows["churned"].tolist() == [True, True, False, False]
    assert rows["actual_spend"].tolist() == [0.0, 0.0, 70.0, 30.0]
    figures = outcomes.list_metrics(rows, SETTINGS)
    assert figures["churn"]["observed_rate"] == 0.5 and figures["churn"]["mean_probability"] == pytest.approx(0.425)
    assert figures["churn"]["brier"] == pytest.approx((0.2**2 + 0.4**2 + 0.2**2 + 0.1**2) / 4)
    assert figures["churn"]["brier_of_the_observed_rate"] == 0.25
    assert figures["spend"]["predicted"] == pytest.approx(40 + 40 + 40 + 36)
    assert figures["spend"]["predicted_over_actual"] == pytest.approx(156 / 100)
    assert figures["spend"]["if_retained_predicted_over_actual"] == pytest.approx(90 / 100)
    assert figures["value_at_risk"]["expected_loss"] == pytest.approx(160 + 60 + 10 + 4)
    assert figures["value_at_risk"]["leavers_expected_value"] == pytest.approx(300.0)
    assert figures["value_at_risk"]["stayers_brought"] == pytest.approx(100.0)
    # Realised: both contacted customers left: 0.3 x (0.5 x value - 10) - 1 each.
    assert figures["campaign"]["realised_profit"] == pytest.approx(0.3 * (100 - 10) - 1 + 0.3 * (50 - 10) - 1)
    assert figures["campaign"]["top_churn_probability_realised_profit"] == figures["campaign"]["realised_profit"]
    # The two stayers cost offer and contact: -11 each.
    assert figures["campaign"]["random_realised_profit"] == pytest.approx(2 * (26 + 11 - 11 - 11) / 4)


def test_the_control_group_earns_nothing_of_the_realised_profit():
    customers = listed([0.8, 0.6], [200.0, 100.0], [True, True], control=[False, True])
    evaluation = pd.DataFrame({"customer_id": ["c0", "c1"], "churned": [True, True], "future_spend": [0.0, 0.0]})
    figures = outcomes.list_metrics(outcomes.outcomes(customers, evaluation), SETTINGS)
    assert figures["campaign"]["contacted"] == 1
    assert figures["campaign"]["realised_profit"] == pytest.approx(0.3 * (100 - 10) - 1)


def test_calibration_error_tells_a_calibrated_list_from_a_shifted_one():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, 5000)
    churned = rng.random(5000) < p
    evaluation = pd.DataFrame({"customer_id": [f"c{i}" for i in range(5000)], "churned": churned, "future_spend": 10.0})
    honest = outcomes.list_metrics(outcomes.outcomes(listed(p, np.full(5000, 10.0), False), evaluation), SETTINGS)
    shifted = outcomes.list_metrics(outcomes.outcomes(listed(np.clip(p + 0.15, 0, 1), np.full(5000, 10.0), False), evaluation), SETTINGS)
    assert honest["churn"]["calibration_error"] < 0.03 < 0.1 < shifted["churn"]["calibration_error"]
    assert honest["churn"]["brier"] < shifted["churn"]["brier"]


def test_intervals_surround_each_figure_and_the_lists_lead_is_paired():
    rng = np.random.default_rng(4)
    p = rng.random(400)
    customers = listed(p, rng.gamma(2.0, 60.0, 400), p > 0.7)
    evaluation = pd.DataFrame({"customer_id": customers["customer_id"], "churned": rng.random(400) < p, "future_spend": rng.gamma(2.0, 40.0, 400)})
    rows = outcomes.outcomes(customers, evaluation)
    figures = outcomes.intervals(rows, SETTINGS, replicates=200, seed=0)
    flat = outcomes.flat_figures(outcomes.list_metrics(rows, SETTINGS))
    for name, value in flat.items():
        assert figures[name]["estimate"] == pytest.approx(value)
    error = figures["churn.calibration_error"]
    assert error["low"] < error["high"] and error["high"] - error["low"] < 0.2
    lead = figures["campaign.lead_over_random"]
    assert lead["estimate"] == pytest.approx(flat["campaign.realised_profit"] - flat["campaign.random_realised_profit"])
    assert lead["low"] <= lead["estimate"] <= lead["high"]
