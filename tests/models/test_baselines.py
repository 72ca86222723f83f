from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import lifetimes
from lifetimes import GammaGammaFitter
import numpy as np
import pandas as pd
import pytest

from features.rfm import rfm_features
from models.baselines import RfmCellRates, bgnbd_expected_purchases, btyd_summary, fit_bgnbd, recency_scores


def cdnow_sample_features() -> pd.DataFrame:
    """The pipeline's own features at the end of the CDNOW 1/10 sample's 39-week calibration period."""
    raw = pd.read_csv(Path(lifetimes.__file__).parent / "datasets" / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["master_id", "customer_id", "date", "cds", "amount"], dtype=str)
    transactions = pd.DataFrame({
        "customer_id": raw["customer_id"].astype("string"),
        "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d").astype("datetime64[us]"),
        "order_id": raw.index.astype(str).astype("string"),
        "product": pd.Series(pd.NA, index=raw.index, dtype="string"),
        "quantity": raw["cds"].astype(float),
        "amount": raw["amount"].astype(float),
        "is_return": False,
    })
    con = ibis.duckdb.connect()
    return con.to_pandas(rfm_features(con.create_table("transactions", transactions), dt.datetime(1997, 10, 1), [30]))


def test_bgnbd_on_the_cdnow_sample_matches_fader_hardie_lee():
    features = cdnow_sample_features()
    assert len(features) == 2357
    params = fit_bgnbd(btyd_summary(features)).params_
    # Fader, Hardie & Lee (2005), "Counting your customers the easy way", table 1.
    assert params["r"] == pytest.approx(0.243, abs=0.001)
    assert params["alpha"] == pytest.approx(4.414, abs=0.001)
    assert params["a"] == pytest.approx(0.793, abs=0.001)
    assert params["b"] == pytest.approx(2.426, abs=0.001)


def test_gamma_gamma_on_the_pipelines_spend_feature_matches_fader_hardie():
    features = cdnow_sample_features()
    repeat = features[features["purchase_days"] > 1]
    params = GammaGammaFitter().fit(repeat["purchase_days"] - 1, repeat["mean_repeat_day_spend"]).params_
    # Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", on the same sample.
    assert params["p"] == pytest.approx(6.25, abs=0.01)
    assert params["q"] == pytest.approx(3.74, abs=0.01)
    assert params["v"] == pytest.approx(15.44, abs=0.01)


def test_bgnbd_expects_fewer_purchases_from_customers_gone_quiet():
    features = cdnow_sample_features()
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
