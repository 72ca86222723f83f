"""Real customers: a slice of the embedded Online Retail data, and the CDNOW 1/10 sample."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import lifetimes
import pandas as pd
import pytest

from features.rfm import rfm_features
from features.snapshots import Sources
from models.training import TrainingSettings
from pipeline.config import load_params
from pipeline.ingest import read_source
from pipeline.interactive import holdout
from tests.conftest import ROOT

AS_OF = dt.datetime(2011, 12, 10)
HORIZON_DAYS = 90
QUICK = TrainingSettings(lightgbm={"learning_rate": 0.1, "num_leaves": 7}, n_trials=4, max_rounds=200, early_stopping_rounds=20)


def retail_snapshots() -> pd.DataFrame:
    """Training snapshots of four customers in ten of the embedded Online Retail data, nine cutoffs to 2011-12-10."""
    data = load_params(ROOT / "params.yaml").data
    source = data.transactions.model_copy(update={"path": str(ROOT / "data/raw/online_retail.csv.gz")})
    clean = read_source("transactions", source, data.parse).clean
    clean = clean[clean["customer_id"].str[-1].isin(["0", "3", "6", "9"])]
    sources = Sources(transactions=ibis.duckdb.connect(threads=2).create_table("transactions", clean))
    return holdout(sources, AS_OF, [30, 90, 365], HORIZON_DAYS, cutoffs=9, spacing_days=30).training


@pytest.fixture(scope="session")
def retail_training() -> pd.DataFrame:
    return retail_snapshots()


@pytest.fixture(scope="session")
def cdnow_sample() -> pd.DataFrame:
    """The pipeline's own features at the end of the CDNOW 1/10 sample's 39-week calibration period
    (the sample lifetimes ships, Fader and Hardie's)."""
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
        "returned_order_id": pd.Series(pd.NA, index=raw.index, dtype="string"),
    })
    con = ibis.duckdb.connect()
    return con.to_pandas(rfm_features(con.create_table("transactions", transactions), dt.datetime(1997, 10, 1), [30]))
