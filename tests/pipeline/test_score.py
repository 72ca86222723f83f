from __future__ import annotations

import pandas as pd

from pipeline.score import scored_customers


def test_scored_customers_handle_a_subscriber_without_purchases():
    scoring = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "cutoff": pd.to_datetime(["2021-01-01", "2021-01-01"]),
            "recency_days": [3.0, None],
            "orders": [2, None],
            "net_spend": [10.0, None],
        }
    )
    value = pd.DataFrame(
        {
            "expected_purchases": [1.5, 0.0],
            "probability_of_purchase": [0.7, 0.0],
            "days_to_next_purchase": [20.4, float("nan")],
            "predicted_spend": [30.0, 5.0],
            "lifetime_value": [100.0, 18.0],
        }
    )
    table = scored_customers(scoring, [0.2, 0.7], value)
    assert table["customer_id"].tolist() == ["b", "a"]
    assert table["orders"].isna().tolist() == [True, False]
    # The next purchase is a date; none expected within a year is an empty cell.
    assert table["expected_next_purchase_date"].tolist()[1] == "2021-01-21" and pd.isna(table["expected_next_purchase_date"][0])
