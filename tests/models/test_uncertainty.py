from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.metrics import roc_auc
from models.uncertainty import bootstrap, customer_draws, interval


def test_a_draw_takes_whole_customers_each_with_every_row():
    customers = pd.Series(["b", "a", "b", "c", "a", "b"])
    for positions in customer_draws(customers, replicates=20, seed=0):
        drawn = customers.iloc[positions]
        counts = drawn.value_counts()
        # b has 3 rows, a 2, c 1: a customer drawn k times brings k times its rows.
        assert all(counts.get(name, 0) % size == 0 for name, size in (("a", 2), ("b", 3), ("c", 1)))
        assert sum(counts.get(name, 0) // size for name, size in (("a", 2), ("b", 3), ("c", 1))) == 3  # three customers drawn


def test_the_interval_covers_the_true_mean_about_95_times_in_100():
    rng = np.random.default_rng(7)
    covered = 0
    for sample in range(200):
        rows = pd.DataFrame({"customer_id": np.arange(150), "y": rng.random(150) < 0.3})
        _, draws = bootstrap(rows, lambda frame: {"mean": frame["y"].mean()}, replicates=200, seed=sample)
        low, high = interval(draws["mean"])
        covered += low <= 0.3 <= high
    assert 0.89 <= covered / 200 <= 0.99


def test_a_customer_repeated_in_overlapping_folds_does_not_narrow_the_interval():
    # The same outcome seen at three cutoffs is one observation, not three: a bootstrap by row would
    # narrow the interval by about sqrt(3); one by customer must not.
    rng = np.random.default_rng(3)
    once = pd.DataFrame({"customer_id": np.arange(400), "y": rng.random(400) < 0.4})
    thrice = pd.concat([once] * 3, ignore_index=True)
    width = {}
    for name, rows in (("once", once), ("thrice", thrice)):
        _, draws = bootstrap(rows, lambda frame: {"mean": frame["y"].mean()}, replicates=400, seed=0)
        low, high = interval(draws["mean"])
        width[name] = high - low
    assert width["thrice"] == pytest.approx(width["once"], rel=0.15)
    rows_alone = thrice.assign(customer_id=np.arange(len(thrice)))  # as if each row were its own customer
    _, draws = bootstrap(rows_alone, lambda frame: {"mean": frame["y"].mean()}, replicates=400, seed=0)
    low, high = interval(draws["mean"])
    assert high - low < 0.7 * width["once"]


def test_replicates_without_a_value_are_left_out():
    assert interval(np.array([np.nan, 1.0, 2.0, 3.0])) == pytest.approx((1.05, 2.95))
    assert np.isnan(interval(np.array([np.nan]))[0])


def test_m_out_of_n_draws_rescaled_give_the_full_bootstraps_interval():
    rng = np.random.default_rng(3)
    customers = 40_000
    churned = rng.random(customers) < 0.4
    rows = pd.DataFrame({"customer_id": np.arange(customers), "churned": churned, "score": churned * 0.3 + rng.random(customers)})

    def auc(frame: pd.DataFrame) -> dict[str, float]:
        return {"auc": roc_auc(frame["churned"].to_numpy(), frame["score"].to_numpy())}

    estimate, full = bootstrap(rows, auc, replicates=200, seed=0)
    same, drawn = bootstrap(rows, auc, replicates=200, seed=0, drawn_customers=4_000)
    assert same == estimate
    full_low, full_high = interval(full["auc"])
    low, high = interval(drawn["auc"])
    assert abs((high - low) / (full_high - full_low) - 1) < 0.2  # the same width, from a tenth of the customers
    assert abs((low + high) / 2 - estimate["auc"]) < 0.1 * (full_high - full_low)
    _, unshrunk = bootstrap(rows, auc, replicates=200, seed=0, drawn_customers=customers)  # not past the size: the full draws
    pd.testing.assert_frame_equal(unshrunk, full)
