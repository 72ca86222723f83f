"""Training snapshots of real customers: every third customer of the embedded Online Retail data."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from features.snapshots import Sources, training_cutoffs, training_snapshots
from pipeline.config import load_params
from pipeline.ingest import ingest_source
from tests.conftest import ROOT

AS_OF = dt.datetime(2011, 12, 10)
HORIZON_DAYS = 90


@pytest.fixture(scope="session")
def retail_training() -> pd.DataFrame:
    source = load_params(ROOT / "params.yaml").data.transactions.model_copy(update={"path": str(ROOT / "data/raw/online_retail.csv.gz")})
    clean = ingest_source("transactions", source).clean
    clean = clean[clean["customer_id"].str[-1].isin(["0", "3", "6", "9"])]
    con = ibis.duckdb.connect(threads=2)
    sources = Sources(transactions=con.create_table("transactions", clean))
    cutoffs = training_cutoffs(AS_OF, HORIZON_DAYS, count=9, spacing_days=30)
    return con.to_pandas(training_snapshots(sources, cutoffs, [30, 90, 365], HORIZON_DAYS))
