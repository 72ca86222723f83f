from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from models import backtest, churn, clv, uplift
from models.customer_list import PlaybookRule, band, recommended_actions, score_customers
from models.tuning import new_study
from pipeline.config import load_params
from pipeline.score import list_settings
from tests.conftest import ROOT, documented_columns
from tests.models.conftest import HORIZON_DAYS, QUICK


@pytest.fixture(scope="module")
def fitted(retail_training):
    fold = backtest.folds(retail_training, HORIZON_DAYS, count=1)[0]
    churn_model, _ = churn.fit_churn_model(fold.labelled, HORIZON_DAYS, QUICK, new_study("churn", None, 1))
    spend_settings = dataclasses.replace(QUICK, lightgbm=QUICK.lightgbm | {"tweedie_variance_power": 1.5})
    clv_model, _ = clv.fit_clv_model(fold.labelled, HORIZON_DAYS, spend_settings, new_study("clv", None, 1))
    return fold.evaluation, churn_model, clv_model, list_settings(load_params(ROOT / "params.yaml"))


@pytest.fixture(scope="module")
def scored(fitted):
    evaluation, churn_model, clv_model, settings = fitted
    customers, summary = score_customers(evaluation, churn_model, clv_model, settings)
    return evaluation, customers, summary, settings


def test_ranked_by_uplift_the_campaign_takes_the_best_arms_incremental_profit_and_only_customers_it_scores(fitted):
    evaluation, churn_model, clv_model, settings = fitted
    ids = evaluation["customer_id"].astype("string").reset_index(drop=True)
    rng = np.random.default_rng(0)
    # Two arms for all but the last fifty customers, with profits unrelated to churn risk.
    arms = pd.DataFrame({"customer_id": ids[:-50].repeat(2).to_numpy(), "arm": ["e-mail", "call"] * (len(ids) - 50)})
    arms["incremental_profit"] = rng.normal(0, 5, len(arms))
    best = uplift.best_arm(arms)
    customers, summary = score_customers(evaluation, churn_model, clv_model, settings, best)
    expected = arms.groupby("customer_id")["incremental_profit"].max()
    listed = customers.set_index("customer_id")
    assert np.allclose(listed.loc[expected.index, "incremental_profit"], expected.round(2))
    assert listed["incremental_profit"].isna().sum() == 50 and not listed.loc[ids[-50:], "selected_for_campaign"].any()
    chosen = listed[listed["selected_for_campaign"]]
    assert len(chosen) and (chosen["incremental_profit"] > 0).all()
    assert chosen["incremental_profit"].min() >= listed.loc[~listed["selected_for_campaign"], "incremental_profit"].max()
    assert customers["incremental_profit"].iloc[: len(expected)].is_monotonic_decreasing
    contacted = chosen[~chosen["control_group"]]
    assert summary["selected"]["incremental_profit"] == pytest.approx(contacted["incremental_profit"].sum(), abs=0.01 * len(contacted))


def test_bands_include_their_lower_edge():
    assert band(pd.Series([0.0, 0.29, 0.3, 0.59, 0.6, 1.0]), (0.3, 0.6)).tolist() == ["low", "low", "medium", "medium", "high", "high"]


def test_the_first_matching_playbook_rule_names_the_action():
    customers = pd.DataFrame({"rfm_segment": ["Champions", "Lost", "New"], "churn_risk_band": ["low", "high", "high"],
                              "value_band": ["high", "low", "low"], "expected_profit": [5.0, -3.0, 2.0]})
    playbook = [PlaybookRule("VIP", segments=("Champions",), risk=("low",)), PlaybookRule("No contact", profitable=False), PlaybookRule("Offer")]
    assert recommended_actions(customers, playbook).tolist() == ["VIP", "No contact", "Offer"]


def test_every_customer_is_listed_once_most_profitable_first(scored):
    evaluation, customers, _, _ = scored
    assert sorted(customers["customer_id"]) == sorted(evaluation["customer_id"].astype("string"))
    assert customers["priority_rank"].tolist() == list(range(1, len(customers) + 1))
    assert customers["expected_profit"].is_monotonic_decreasing
    assert customers["churn_risk_band"].isin(["low", "medium", "high"]).all()
    assert customers["recommended_action"].ne("").all() and customers["rfm_segment"].ne("Unsegmented").all()


def test_the_columns_are_the_ones_the_data_dictionary_documents(scored):
    _, customers, _, _ = scored
    assert list(customers.columns) == documented_columns()


def test_value_at_risk_is_the_churn_probability_times_the_spend_if_retained(scored):
    _, customers, _, _ = scored
    expected = customers["churn_probability"] * customers["spend_if_retained"]
    assert np.allclose(customers["value_at_risk"], expected, rtol=1e-3, atol=0.05)
    # On the horizon's basis: never more than the customer would spend in it by staying.
    assert (customers["value_at_risk"] <= customers["spend_if_retained"] + 0.01).all()
    assert np.isfinite(customers["value_at_risk"]).all()


def test_the_campaign_stays_within_budget_and_beats_simpler_selections(scored):
    _, customers, summary, settings = scored
    selected = customers[customers["selected_for_campaign"]]
    contacted = selected[~selected["control_group"]]
    assert 0 < len(contacted) <= settings.campaign.contacts
    assert (selected["expected_profit"] > 0).all()
    assert customers.loc[customers["control_group"], "selected_for_campaign"].all()
    assert summary["selected"]["customers"] == len(contacted)
    assert summary["selected"]["expected_profit"] == pytest.approx(contacted["expected_profit"].sum(), rel=1e-3)
    assert summary["selected"]["expected_profit"] >= summary["top_churn_probability"]["expected_profit"] > 0
    assert summary["selected"]["expected_profit"] > summary["random"]["expected_profit"]


def test_top_reasons_are_plain_words(scored):
    _, customers, _, _ = scored
    risky = customers[customers["churn_risk_band"] == "high"]
    assert len(risky) > 0 and risky["top_reasons"].str.len().gt(0).all()
    assert not risky["top_reasons"].str.contains(r"_days|_\d+d\b|\bnan\b").any()  # no raw feature names, no NaN


def test_the_win_back_list_puts_the_biggest_spenders_first_with_their_last_purchase():
    from models.customer_list import win_back_list

    lapsed = pd.DataFrame({"customer_id": ["x", "y", "z"], "recency_days": [400.2, 731.0, 500.0], "orders": [3, 1, 2], "net_spend": [120.0, 900.0, 120.0]})
    listed = win_back_list(lapsed, "2011-12-10", 365)
    assert listed["customer_id"].tolist() == ["y", "x", "z"]  # ties by id
    assert listed.loc[0, "last_purchase_date"] == "2009-12-09" and listed.loc[1, "last_purchase_date"] == "2010-11-05"
    assert (listed["recommended_action"] == "Win-back: no purchase in the last 365 days").all()
    assert list(listed.columns) == documented_columns("The win-back list")
