from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from models import uplift
from pipeline import config
from tests.conftest import ROOT, shared_file

CONTROL = "No E-Mail"
# The settings `churn uplift` runs with on this campaign.
ATTRIBUTES = yaml.safe_load((ROOT / "configs" / "hillstrom.yaml").read_text())["data"]["customers"]["attributes"]
LIGHTGBM = dict(config.load_params(ROOT / "params.yaml").uplift.lightgbm) | {"num_threads": 2}


def test_uplift_at_k_and_the_qini_curve_by_hand():
    # Ranked: a treated buyer, a control non-buyer, a treated non-buyer, a control buyer.
    scores, outcome, treated = np.array([4, 3, 2, 1]), np.array([1, 0, 0, 1]), np.array([True, False, True, False])
    assert uplift.uplift_at(scores, outcome, treated, 0.5) == 1.0
    assert uplift.uplift_at(scores, outcome, treated, 1.0) == 0.0
    curve = uplift.qini_curve(scores, outcome, treated, points=4)
    # Top 1: 1 treated buyer, no control: 1/4. Top 2: 1 - 0 x 1/1: 1/4. Top 3: 1 - 0 x 2/1: 1/4. All: 1 - 1 x 2/2: 0.
    assert curve["incremental"].tolist() == [0.0, 0.25, 0.25, 0.25, 0.0]
    assert uplift.qini_coefficient(scores, outcome, treated) == pytest.approx(np.trapezoid([0, 0.25, 0.25, 0.25, 0], dx=0.25))
    # The reverse ranking does worse, and a constant one is random targeting.
    assert uplift.qini_coefficient(-scores, outcome, treated) < 0
    assert uplift.uplift_at(np.zeros(4), outcome, treated, 1.0) == 0.0


@pytest.fixture(scope="module")
def hillstrom() -> pd.DataFrame:
    customers = pd.read_csv(shared_file("hillstrom", "customers.csv"))
    campaign = pd.read_csv(shared_file("hillstrom", "campaign.csv"))
    frame = customers.merge(campaign, on="customer_id")
    return frame[frame["segment"].isin(["Womens E-Mail", CONTROL])].reset_index(drop=True)


def held_out(frame: pd.DataFrame, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(len(frame)) < 0.5


def test_an_uplift_model_fed_shuffled_arms_finds_no_uplift_beyond_chance(hillstrom):
    frame = hillstrom.copy()
    frame["segment"] = np.random.default_rng(11).permutation(frame["segment"].to_numpy())  # the contact changes nothing
    test = held_out(frame, 1)
    train, judged = frame[~test], frame[test]
    model = uplift.fit_uplift(train, ATTRIBUTES, "visit", train["segment"].ne(CONTROL), train["segment"].eq(CONTROL), LIGHTGBM, rounds=300)
    treated = judged["segment"].ne(CONTROL).to_numpy()
    top = np.argsort(-model.predict(judged), kind="stable")[: int(0.3 * len(judged))]
    y, w = judged["visit"].to_numpy()[top], treated[top]
    error = np.sqrt(y[w].var(ddof=1) / w.sum() + y[~w].var(ddof=1) / (~w).sum())
    assert abs(uplift.uplift_at(model.predict(judged), judged["visit"].to_numpy(), treated, 0.3)) < 2.5 * error


def test_the_womens_arm_is_targeted_better_by_uplift_than_at_random(hillstrom):
    test = held_out(hillstrom, 2)
    train, judged = hillstrom[~test], hillstrom[test]
    model = uplift.fit_uplift(train, ATTRIBUTES, "visit", train["segment"].ne(CONTROL), train["segment"].eq(CONTROL), LIGHTGBM, rounds=300)
    measured = uplift.evaluation(model.predict(judged), judged["visit"].to_numpy(), judged["segment"].ne(CONTROL).to_numpy())
    assert measured["uplift_at"]["0.3"] > measured["random"] and measured["qini"] > 0
    assert uplift.objective_for(judged["spend"])["objective"] == "tweedie"
    assert uplift.objective_for(judged["spend"] - 1)["objective"] == "regression"  # net of returns, an amount can be negative
    with pytest.raises(ValueError, match="too few customers to learn uplift"):
        uplift.fit_uplift(train.head(60), ATTRIBUTES, "visit", train.head(60)["segment"].ne(CONTROL), train.head(60)["segment"].eq(CONTROL), LIGHTGBM, rounds=10)


def test_the_held_out_customers_are_the_same_share_of_every_arm_and_the_same_for_a_seed():
    arms = pd.Series(["a"] * 1000 + ["b"] * 300 + ["c"] * 10)
    chosen = uplift.held_out(arms, 0.3, seed=1)
    assert [int(chosen[arms.eq(arm).to_numpy()].sum()) for arm in "abc"] == [300, 90, 3]
    assert (uplift.held_out(arms, 0.3, seed=1) == chosen).all() and not (uplift.held_out(arms, 0.3, seed=2) == chosen).all()
