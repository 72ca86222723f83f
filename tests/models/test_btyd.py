from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from models.btyd import DAYS_PER_MONTH, Btyd, btyd_summary, fit_purchases, fit_spend


@pytest.fixture(scope="module")
def cdnow_btyd(cdnow_sample) -> Btyd:
    return Btyd.fit(cdnow_sample)


def test_bgnbd_on_the_cdnow_sample_matches_fader_hardie_lee(cdnow_sample, cdnow_btyd):
    assert len(cdnow_sample) == 2357
    params = cdnow_btyd.purchases.params_
    # Fader, Hardie & Lee (2005), "Counting your customers the easy way", table 1.
    assert params["r"] == pytest.approx(0.243, abs=0.001)
    assert params["alpha"] == pytest.approx(4.414, abs=0.001)
    assert params["a"] == pytest.approx(0.793, abs=0.001)
    assert params["b"] == pytest.approx(2.426, abs=0.001)


def test_gamma_gamma_on_the_pipelines_spend_feature_matches_fader_hardie(cdnow_btyd):
    params = cdnow_btyd.spend.params_
    # Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", on the same sample.
    assert params["p"] == pytest.approx(6.25, abs=0.01)
    assert params["q"] == pytest.approx(3.74, abs=0.01)
    assert params["v"] == pytest.approx(15.44, abs=0.01)


def test_pareto_nbd_fits_the_cdnow_sample_and_expects_purchases_like_bgnbd(cdnow_sample, cdnow_btyd):
    pareto = Btyd(fit_purchases(btyd_summary(cdnow_sample), "pareto_nbd"), cdnow_btyd.spend)
    bgnbd_total = cdnow_btyd.expected_purchases(cdnow_sample, 273).sum()
    # Both models describe the same repeat buying: their 39-week totals agree to a few percent.
    assert pareto.expected_purchases(cdnow_sample, 273).sum() == pytest.approx(bgnbd_total, rel=0.1)


def test_spend_per_purchase_shrinks_a_customers_mean_toward_the_population_mean(cdnow_sample, cdnow_btyd):
    spend = cdnow_btyd.spend_per_purchase(cdnow_sample)
    p, q, v = cdnow_btyd.spend.params_[["p", "q", "v"]]
    population = p * v / (q - 1)
    one_timers = (cdnow_sample["purchase_days"] == 1).to_numpy()
    assert np.allclose(spend[one_timers], population)
    repeat = ~one_timers & (cdnow_sample["mean_repeat_day_spend"] > 0).to_numpy()
    own = cdnow_sample["mean_repeat_day_spend"].to_numpy()[repeat]
    # Each estimate lies between the customer's own mean and the population's.
    assert (np.minimum(own, population) - 1e-9 <= spend[repeat]).all() and (spend[repeat] <= np.maximum(own, population) + 1e-9).all()


def test_probability_of_a_purchase_is_consistent_with_expected_purchases_and_alive(cdnow_sample, cdnow_btyd):
    alive = cdnow_btyd.probability_alive(cdnow_sample)
    week = cdnow_btyd.probability_of_purchase(cdnow_sample, 7)
    year = cdnow_btyd.probability_of_purchase(cdnow_sample, 365)
    forever = cdnow_btyd.probability_of_purchase(cdnow_sample, 1e15)
    assert (week <= year).all() and (year <= alive + 1e-12).all()
    # An alive customer buys again sooner or later (slowly: a one-timer's rate posterior has shape r = 0.24).
    assert np.allclose(forever, alive, atol=1e-2)
    # P(any) <= E[count]; over a moment, when a second purchase is impossible, equal (lifetimes' E[count]).
    assert (week <= cdnow_btyd.expected_purchases(cdnow_sample, 7) + 1e-12).all()
    moment = 0.01
    assert np.allclose(cdnow_btyd.probability_of_purchase(cdnow_sample, moment), cdnow_btyd.expected_purchases(cdnow_sample, moment), rtol=1e-3)


def test_median_days_to_next_purchase_is_where_the_chance_of_a_purchase_reaches_one_half(cdnow_sample, cdnow_btyd):
    days = cdnow_btyd.median_days_to_next_purchase(cdnow_sample, max_days=365)
    known = np.isfinite(days)
    assert 0 < known.sum() < len(days)  # quiet customers have no date within a year
    at_median = cdnow_btyd.probability_of_purchase(cdnow_sample.loc[known], days[known])
    assert np.allclose(at_median, 0.5)
    unknown_year = cdnow_btyd.probability_of_purchase(cdnow_sample.loc[~known], 365)
    assert (unknown_year < 0.5 + 1e-9).all()


def test_discounted_purchases_sum_monthly_expectations(cdnow_sample, cdnow_btyd):
    undiscounted = cdnow_btyd.discounted_purchases(cdnow_sample, 273, annual_discount_rate=0.0)
    assert np.allclose(undiscounted, cdnow_btyd.expected_purchases(cdnow_sample, 273))
    discounted = cdnow_btyd.discounted_purchases(cdnow_sample, 12 * DAYS_PER_MONTH, annual_discount_rate=0.10)
    year = cdnow_btyd.expected_purchases(cdnow_sample, 12 * DAYS_PER_MONTH)
    # Every month's purchases are worth less than today's, but not less than at the year's end's rate.
    assert (discounted <= year + 1e-12).all() and (discounted >= year / 1.10 - 1e-12).all()


def test_gamma_gamma_is_fitted_only_on_repeat_customers_with_positive_spend(cdnow_sample):
    summary = btyd_summary(cdnow_sample)
    summary.loc[summary.index[:5], "monetary_value"] = -10.0  # returns exceeding purchases
    assert fit_spend(summary).params_["p"] > 0


def test_expected_purchases_stay_finite_and_growing_when_the_fit_finds_no_dropout(cdnow_sample, cdnow_btyd):
    # Online Retail's fits end here (a, b -> 0), where lifetimes' formula has no value for one-time buyers.
    purchases = copy.deepcopy(cdnow_btyd.purchases)
    purchases.params_ = pd.Series({"r": 0.7, "alpha": 7.0, "a": 1e-19, "b": 1e-9})
    degenerate = Btyd(purchases)
    spans = [degenerate.expected_purchases(cdnow_sample, days) for days in (90, 180, 365)]
    assert all(np.isfinite(span).all() for span in spans)
    assert (spans[0] <= spans[1]).all() and (spans[1] <= spans[2]).all()
    one_timers = (cdnow_sample["purchase_days"] == 1).to_numpy()
    T = btyd_summary(cdnow_sample)["T"].to_numpy()[one_timers]
    assert np.allclose(spans[2][one_timers], 0.7 / (7.0 + T) * 365 / 7)  # no dropout: rate x time


def test_pareto_nbd_fits_the_same_data_to_the_same_parameters(cdnow_sample):
    summary = btyd_summary(cdnow_sample)
    first, second = fit_purchases(summary, "pareto_nbd").params_, fit_purchases(summary, "pareto_nbd").params_
    assert first.to_dict() == second.to_dict()
