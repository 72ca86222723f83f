from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from models.campaign import CampaignSettings, comparison, contacted, expected_profit, held_out, select

SETTINGS = CampaignSettings(budget=110.0, contact_cost=1.0, offer_cost=10.0, margin=0.5, acceptance_alpha=6, acceptance_beta=14)


def test_expected_profit_by_hand():
    # p = 0.5, value 1000: 0.5 x 0.3 x (500 - 10) - 0.5 x 10 - 1 = 67.5
    assert expected_profit(np.array([0.5]), np.array([1000.0]), SETTINGS)[0] == pytest.approx(67.5)
    # A customer sure to stay costs the offer and the contact.
    assert expected_profit(np.array([0.0]), np.array([1000.0]), SETTINGS)[0] == pytest.approx(-11.0)


def test_selection_takes_the_most_profitable_the_budget_covers_and_never_a_loss():
    ids = pd.Series([f"c{i:02d}" for i in range(60)])
    profit = np.linspace(-50, 100, 60)
    selected, control = select(profit, ids, SETTINGS)
    reached = contacted(selected, control)
    assert reached.sum() == SETTINGS.contacts == 10
    assert profit[selected].min() >= profit[~selected].max()
    assert not control[~selected].any()
    poor, _ = select(np.full(30, -1.0), ids[:30], SETTINGS)
    assert not poor.any()


def test_the_control_group_takes_no_budget_and_no_profit():
    ids = pd.Series([f"customer-{i}" for i in range(5000)])
    settings = CampaignSettings(budget=11_000.0, contact_cost=1.0, offer_cost=10.0, margin=0.3, control_share=0.2)
    p, value = np.full(5000, 0.6), np.linspace(100, 1000, 5000)
    profit = expected_profit(p, value, settings)
    selected, control = select(profit, ids, settings)
    reached = contacted(selected, control)
    assert reached.sum() == settings.contacts == 1000  # the whole budget goes to contacts
    assert control.sum() == pytest.approx(0.2 * selected.sum(), rel=0.1)
    result = comparison(p, value, ids, reached, settings)
    assert result["selected"]["customers"] == 1000
    assert result["selected"]["expected_profit"] == pytest.approx(profit[reached].sum())


def test_the_selected_list_earns_at_least_as_much_as_any_other_list_of_its_size():
    rng = np.random.default_rng(1)
    p, value = rng.uniform(0, 1, 12), rng.lognormal(6, 1, 12)
    ids = pd.Series([f"c{i}" for i in range(12)])
    settings = CampaignSettings(budget=44.0, contact_cost=1.0, offer_cost=10.0, margin=0.3, control_share=0.0)
    chosen, _ = select(expected_profit(p, value, settings), ids, settings)
    result = comparison(p, value, ids, chosen, settings)
    profit = expected_profit(p, value, settings)
    best_other = max(profit[list(rows)].sum() for rows in itertools.combinations(range(12), int(chosen.sum())))
    assert result["selected"]["expected_profit"] == pytest.approx(best_other)
    assert result["selected"]["expected_profit"] >= result["top_churn_probability"]["expected_profit"]
    assert result["random"]["expected_profit"] == pytest.approx(chosen.sum() * profit.mean())
    assert result["selected"]["profit_low"] < result["selected"]["expected_profit"] < result["selected"]["profit_high"]


def test_the_control_group_is_a_stable_seeded_share():
    ids = pd.Series([f"customer-{i}" for i in range(20000)])
    control = held_out(ids, SETTINGS)
    assert control.mean() == pytest.approx(SETTINGS.control_share, abs=0.01)
    # The same customers stay in (or out) when the list around them changes.
    assert np.array_equal(held_out(ids[:500], SETTINGS), control[:500])
    reseeded = held_out(ids, CampaignSettings(**{**SETTINGS.__dict__, "seed": 7}))
    assert not np.array_equal(reseeded, control)


def test_no_budget_selects_no_one():
    ids = pd.Series([f"c{i}" for i in range(20)])
    selected, control = select(np.linspace(1, 20, 20), ids, CampaignSettings(budget=0.0, contact_cost=1.0, offer_cost=10.0, margin=0.3))
    assert not selected.any() and not control.any()
