"""Stage `score`: the churn probability of every current customer, as the CSV marketing receives."""

from __future__ import annotations

import pandas as pd

from pipeline import artifacts, config, io


def scored_customers(scoring: pd.DataFrame, probabilities) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "customer_id": scoring["customer_id"].astype("string"),
            "as_of": pd.to_datetime(scoring["cutoff"]).dt.strftime("%Y-%m-%d"),
            "churn_probability": pd.Series(probabilities, index=scoring.index).round(4),
            "recency_days": scoring["recency_days"].round(1),
            "orders": scoring["orders"].astype("Int64"),  # null for a subscriber with no purchase yet
            "net_spend": scoring["net_spend"].round(2),
        }
    )
    # Highest risk first; the customer id breaks ties so that reruns give the same file.
    return table.sort_values(["churn_probability", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def run(params: config.Params) -> pd.DataFrame:
    scoring = pd.read_parquet(config.SCORING_SNAPSHOT)
    model = artifacts.load_churn_model(config.CHURN_MODEL)
    table = scored_customers(scoring, model.predict(scoring))
    io.write_csv(table, config.SCORED_CUSTOMERS)
    return table
