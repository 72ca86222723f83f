from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from models.campaign import CampaignSettings, comparison, control_group, expected_profit, select

SETTINGS = CampaignSettings(budget=110.0, contact_cost=1.0, offer_cost=10.0, margin=0.5, acceptance_alpha=6, acceptance_beta=14)


def test_expected_profit_by_hand():
    # p = 0.5, value 1000: 0.5 x 0.3 x (500 - 10) - 0.5 x 10 - 1 = 67.5
    assert expected_profit(np.array([0.5]), np.array([1000.0]), SETTINGS)[0] == pytest.approx(67.5)
    # A customer sure to stay costs the offer and the contact.
    assert expected_profit(np.array([0.0]), np.array([1000.0]), SETTINGS)[0] == pytest.approx(-11.0)


def test_selection_takes_the_most_profitable_the_budget_covers_and_never_a_loss():
    ids = pd.Series([f"c{i:02d}" for i in range(30)])
    profit = np.linspace(-50, 100, 30)
    chosen = select(profit, ids, SETTINGS)
    assert chosen.sum() == SETTINGS.contacts == 10
    assert profit[chosen].min() >= profit[~chosen].max()
    poor = select(np.full(30, -1.0), ids, SETTINGS)
    assert not poor.any()


def test_the_selected_list_earns_at_least_as_much_as_any_other_list_of_its_size():
    rng = np.random.default_rng(1)
    p, value = rng.uniform(0, 1, 12), rng.lognormal(6, 1, 12)
    ids = pd.Series([f"c{i}" for i in range(12)])
    settings = CampaignSettings(budget=44.0, contact_cost=1.0, offer_cost=10.0, margin=0.3)
    chosen = select(expected_profit(p, value, settings), ids, settings)
    result = comparison(p, value, ids, chosen, settings)
    profit = expected_profit(p, value, settings)
    best_other = max(profit[list(rows)].sum() for rows in itertools.combinations(range(12), int(chosen.sum())))
    assert result["selected"]["expected_profit"] == pytest.approx(best_other)
    assert result["selected"]["expected_profit"] >= result["top_churn_probability"]["expected_profit"]
    assert result["random"]["expected_profit"] == pytest.approx(chosen.sum() * profit.mean())
    assert result["selected"]["profit_low"] < result["selected"]["expected_profit"] < result["selected"]["profit_high"]


def test_the_control_group_is_a_stable_seeded_share_of_the_selected():
    ids = pd.Series([f"customer-{i}" for i in range(20000)])
    selected = np.arange(20000) % 2 == 0
    control = control_group(ids, selected, SETTINGS)
    assert not control[~selected].any()
    assert control[selected].mean() == pytest.approx(SETTINGS.control_share, abs=0.01)
    # The same customers stay in (or out) when the list around them changes.
    subset = control_group(ids[:500], selected[:500], SETTINGS)
    assert np.array_equal(subset, control[:500])
    reseeded = control_group(ids, selected, CampaignSettings(**{**SETTINGS.__dict__, "seed": 7}))
    assert not np.array_equal(reseeded, control)
