"""Stage `score`: churn probability and value of every current customer, as the CSV marketing receives."""

from __future__ import annotations

import pandas as pd

from models.clv import ValueSettings, customer_value
from pipeline import artifacts, config, io


def scored_customers(scoring: pd.DataFrame, probabilities, value: pd.DataFrame) -> pd.DataFrame:
    as_of = pd.to_datetime(scoring["cutoff"])
    next_purchase = as_of + pd.to_timedelta(value["days_to_next_purchase"].round(), unit="D")
    table = pd.DataFrame(
        {
            "customer_id": scoring["customer_id"].astype("string"),
            "as_of": as_of.dt.strftime("%Y-%m-%d"),
            "churn_probability": pd.Series(probabilities, index=scoring.index).round(4),
            "expected_purchases": value["expected_purchases"].round(3),
            "probability_of_purchase": value["probability_of_purchase"].round(4),
            "expected_next_purchase_date": next_purchase.dt.strftime("%Y-%m-%d"),
            "predicted_spend": value["predicted_spend"].round(2),
            "predicted_clv": value["lifetime_value"].round(2),
            "recency_days": scoring["recency_days"].round(1),
            "orders": scoring["orders"].astype("Int64"),  # null for a subscriber with no purchase yet
            "net_spend": scoring["net_spend"].round(2),
        }
    )
    # Highest risk first; the customer id breaks ties so that reruns give the same file.
    return table.sort_values(["churn_probability", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def run(params: config.Params) -> pd.DataFrame:
    scoring = pd.read_parquet(config.SCORING_SNAPSHOT)
    churn_model = artifacts.load_churn_model(config.CHURN_MODEL)
    value = customer_value(
        scoring,
        artifacts.load_clv_model(config.CLV_MODEL),
        ValueSettings(params.clv.lifetime_months, params.clv.annual_discount_rate),
    )
    table = scored_customers(scoring, churn_model.predict(scoring), value)
    io.write_csv(table, config.SCORED_CUSTOMERS)
    return table
