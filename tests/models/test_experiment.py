from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.experiment import arm_effects, difference, incremental_profit
from tests.conftest import shared_file


def test_the_difference_has_welchs_interval():
    treated, control = np.array([1.0, 0.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0])
    found = difference(treated, control)
    error = np.sqrt(treated.var(ddof=1) / 4 + control.var(ddof=1) / 3)
    assert found["effect"] == pytest.approx(0.75 - 1 / 3)
    assert found["high"] - found["effect"] == pytest.approx(1.959964 * error, rel=1e-6)
    assert (found["treated"], found["control"]) == (4, 3)
    with pytest.raises(ValueError, match="at least two customers each"):
        difference(np.array([1.0]), control)


def test_the_hillstrom_campaign_reads_back_its_published_visit_rates():
    customers = pd.read_csv(shared_file("hillstrom", "campaign.csv"))
    effects = arm_effects(customers, "segment", "No E-Mail", ["visit", "spend"])
    assert list(effects) == ["Mens E-Mail", "Womens E-Mail"]
    mens, womens = effects["Mens E-Mail"]["visit"], effects["Womens E-Mail"]["visit"]
    # The figures for this half: 18.8%, 15.3% and 10.6% visited.
    assert (round(mens["treated_mean"], 3), round(womens["treated_mean"], 3), round(mens["control_mean"], 3)) == (0.188, 0.153, 0.106)
    assert mens["low"] > 0 and womens["low"] > 0 and mens["effect"] > womens["effect"]
    assert effects["Mens E-Mail"]["spend"]["low"] > 0


def test_an_arm_given_at_random_has_no_effect_beyond_its_interval():
    customers = pd.read_csv(shared_file("hillstrom", "campaign.csv"))
    customers["segment"] = np.random.default_rng(3).permutation(customers["segment"].to_numpy())
    for figures in arm_effects(customers, "segment", "No E-Mail", ["visit"]).values():
        assert figures["visit"]["low"] < 0 < figures["visit"]["high"]


def test_incremental_profit_is_the_margin_on_the_effect_less_the_contact():
    profit = incremental_profit({"effect": 0.6, "low": 0.2, "high": 1.0}, margin=0.3, contact_cost=0.1)
    assert profit == pytest.approx({"effect": 0.08, "low": -0.04, "high": 0.2})
