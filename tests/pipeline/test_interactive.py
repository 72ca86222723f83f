"""The holdout every benchmark judges a model on: what was known at a date, and what happened next."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from pipeline import config
from pipeline.interactive import holdout, sources_in_memory
from tests.conftest import ROOT

AS_OF = dt.datetime(2011, 9, 1)


def test_holdout_trains_on_closed_labels_and_judges_on_what_followed():
    data = config.load_params(ROOT / "params.yaml").data
    data = data.model_copy(update={"transactions": data.transactions.model_copy(update={"path": str(ROOT / data.transactions.path)})})
    sources = sources_in_memory(data)
    known = holdout(sources, AS_OF, [30, 90], horizon_days=60, cutoffs=3, spacing_days=30, evaluation_horizon_days=90, active_days=90)

    cutoffs = sorted(known.training["cutoff"].unique())
    assert len(cutoffs) == 3 and pd.Timestamp(cutoffs[-1]) + pd.Timedelta(days=60) <= pd.Timestamp(AS_OF)
    assert (known.evaluation["cutoff"] == pd.Timestamp(AS_OF)).all()

    # Who churned, straight from the clean lines: no purchase in the 90 days from as_of, an order
    # returned in full within them being none (docs/definitions.md).
    lines = sources.transactions.execute()
    bought_after = set(purchases(lines[(lines["timestamp"] >= AS_OF) & (lines["timestamp"] < AS_OF + dt.timedelta(days=90))])["customer_id"])
    expected = ~known.evaluation["customer_id"].isin(bought_after)
    assert known.evaluation["churned"].to_numpy().tolist() == expected.to_numpy().tolist()
    assert 0.2 < expected.mean() < 0.8  # both outcomes are there to check

    # The customers at as_of: bought in the 90 days before it, nobody else.
    before = purchases(lines[lines["timestamp"] < AS_OF])
    assert set(known.evaluation["customer_id"]) == set(before.loc[before["ordered_at"] >= AS_OF - dt.timedelta(days=90), "customer_id"])


def purchases(lines: pd.DataFrame) -> pd.DataFrame:
    """The orders of `lines` that are purchases: not returned in full by the returns among `lines`."""
    orders = lines.assign(order=lines["returned_order_id"].where(lines["is_return"], lines["order_id"]), bought_at=lines["timestamp"].where(~lines["is_return"]))
    orders = orders.groupby(["customer_id", "order"]).agg(
        ordered_at=("bought_at", "min"), returned=("is_return", "any"), value=("amount", "sum")).reset_index()
    return orders[orders["ordered_at"].notna() & (~orders["returned"] | (orders["value"].round(2) > 0))]  # amounts in cents, as the pipeline sums them
