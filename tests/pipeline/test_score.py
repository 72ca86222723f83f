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
    table = scored_customers(scoring, [0.2, 0.7])
    assert table["customer_id"].tolist() == ["b", "a"]
    assert table["orders"].isna().tolist() == [True, False]
