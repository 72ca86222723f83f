from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from features.snapshots import default_as_of, snapshot, training_cutoffs

CUTOFF = dt.datetime(2021, 1, 31)


def transactions_frame(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "order_id", "product", "quantity", "amount", "is_return"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).astype("datetime64[us]")
    frame["source_row"] = range(1, len(frame) + 1)
    return frame


TRANSACTIONS = transactions_frame(
    [
        ("a", "2021-01-01", "o1", "X", 1.0, 60.0, False),
        ("a", "2021-01-01", "o1", "Y", 2.0, 40.0, False),
        ("a", "2021-01-11", "o2", "X", 1.0, 50.0, False),
        ("a", "2021-01-21", "r1", "X", -1.0, -20.0, True),
        ("a", "2021-02-01", "o3", "X", 1.0, 30.0, False),
        ("b", "2021-01-30", "o4", "Z", 1.0, 10.0, False),
        ("c", "2021-02-05", "o5", "Z", 1.0, 99.0, False),
    ]
)
EVENTS = pd.DataFrame(
    {
        "customer_id": ["a", "a", "a"],
        "timestamp": pd.to_datetime(["2021-01-20", "2021-01-30", "2021-02-02"]).astype("datetime64[us]"),
        "event_type": ["login", "login", "Like it"],
        "value": [1.0, 1.0, 1.0],
        "source_row": [1, 2, 3],
    }
)


def compute(transactions: pd.DataFrame, events: pd.DataFrame | None = None, horizon_days: int | None = 30, cutoff=CUTOFF):
    con = ibis.duckdb.connect()
    event_table = con.create_table("events", events) if events is not None else None
    event_types = sorted(events["event_type"].unique()) if events is not None else []
    expr = snapshot(con.create_table("transactions", transactions), event_table, cutoff, [15, 30], event_types, horizon_days)
    return con.to_pandas(expr).set_index("customer_id")


def test_rfm_features_match_a_hand_computed_example():
    features = compute(TRANSACTIONS)
    a = features.loc["a"]
    assert a["recency_days"] == pytest.approx(20.0)
    assert a["tenure_days"] == pytest.approx(30.0)
    assert (a["orders"], a["purchase_days"]) == (2, 2)
    assert (a["gross_spend"], a["net_spend"]) == (pytest.approx(150.0), pytest.approx(130.0))
    assert (a["mean_order_value"], a["max_order_value"]) == (pytest.approx(75.0), pytest.approx(100.0))
    assert a["mean_basket_items"] == pytest.approx(2.0)
    assert (a["orders_15d"], a["orders_30d"], a["spend_15d"], a["spend_30d"]) == (0, 2, 0.0, pytest.approx(150.0))
    assert a["mean_gap_days"] == pytest.approx(10.0)
    assert a["overdue_ratio"] == pytest.approx(2.0)
    assert (a["return_orders"], a["returns_value"], a["return_share"]) == (1, pytest.approx(20.0), pytest.approx(1 / 3))
    assert a["distinct_products"] == 2


def test_one_time_buyers_have_no_gap_and_no_returns():
    b = compute(TRANSACTIONS).loc["b"]
    assert b["recency_days"] == pytest.approx(1.0)
    assert pd.isna(b["mean_gap_days"]) and pd.isna(b["overdue_ratio"])
    assert (b["return_orders"], b["returns_value"], b["return_share"]) == (0, 0.0, 0.0)


def test_a_snapshot_holds_exactly_the_customers_who_bought_before_the_cutoff():
    assert sorted(compute(TRANSACTIONS).index) == ["a", "b"]


def test_labels_describe_the_horizon_after_the_cutoff():
    features = compute(TRANSACTIONS)
    a, b = features.loc["a"], features.loc["b"]
    assert (a["future_orders"], a["future_spend"], a["days_to_next_purchase"], a["churned"]) == (1, 30.0, 1.0, False)
    assert (b["future_orders"], b["future_spend"], b["churned"]) == (0, 0.0, True)
    assert pd.isna(b["days_to_next_purchase"])
    short = compute(TRANSACTIONS, horizon_days=1).loc["a"]
    assert short["churned"]  # the purchase on day 1 is outside a one-day window [T, T + 1 day)


def test_engagement_features_count_events_per_type_and_window():
    features = compute(TRANSACTIONS, EVENTS)
    a, b = features.loc["a"], features.loc["b"]
    assert (a["events_login_15d"], a["events_login_30d"], a["events_like_it_30d"]) == (2, 2, 0)
    assert a["days_since_last_event"] == pytest.approx(1.0)
    assert a["active_days_15d"] == 2
    assert (b["events_login_30d"], b["events_like_it_30d"]) == (0, 0)
    assert pd.isna(b["days_since_last_event"])


def test_rows_at_or_after_the_cutoff_change_no_feature():
    before = compute(TRANSACTIONS, EVENTS, horizon_days=None)
    later = transactions_frame(
        [("a", "2021-01-31", "o9", "Q", 5.0, 500.0, False), ("b", "2021-03-01", "r9", "Z", -1.0, -10.0, True)]
    )
    more_events = pd.DataFrame({"customer_id": ["b"], "timestamp": pd.to_datetime(["2021-01-31"]).astype("datetime64[us]"),
                                "event_type": ["login"], "value": [1.0], "source_row": [9]})
    after = compute(pd.concat([TRANSACTIONS, later]), pd.concat([EVENTS, more_events]), horizon_days=None)
    pd.testing.assert_frame_equal(before, after)


def test_training_cutoffs_end_their_label_windows_by_as_of():
    as_of = dt.datetime(2011, 12, 10)
    cutoffs = training_cutoffs(as_of, horizon_days=90, count=3, spacing_days=30)
    assert cutoffs == [dt.datetime(2011, 7, 13), dt.datetime(2011, 8, 12), dt.datetime(2011, 9, 11)]
    assert all(cutoff + dt.timedelta(days=90) <= as_of for cutoff in cutoffs)


def test_default_as_of_is_the_midnight_after_the_last_transaction():
    assert default_as_of(dt.datetime(2011, 12, 9, 12, 50)) == dt.datetime(2011, 12, 10)
