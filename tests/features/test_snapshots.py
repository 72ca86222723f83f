from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features.snapshots import default_as_of, lapsed_customers, training_cutoffs, with_history
from tests.features.snapshot_helpers import CUTOFF, WINDOWS, compute_snapshot, in_duckdb, transactions_frame


TRANSACTIONS = transactions_frame(
    [
        ("a", "2021-01-01", "o1", "X", 1.0, 60.0, False),
        ("a", "2021-01-01", "o1", "Y", 2.0, 40.0, False),
        ("a", "2021-01-11", "o2", "X", 1.0, 50.0, False),
        ("a", "2021-01-21", "r1", "X", -1.0, -20.0, True),
        ("a", "2021-02-01", "o3", "X", 1.0, 30.0, False),
        ("b", "2021-01-30", "o4", "Z", 1.0, 10.0, False),
        ("c", "2021-02-05", "o5", "Z", 1.0, 99.0, False),
        ("d", "2021-01-01", "o6", "X", 1.0, 5.0, False),
        ("d", "2021-01-05", "o7", "X", 1.0, 5.0, False),
        ("d", "2021-01-15", "o8", "X", 1.0, 5.0, False),
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


def test_rfm_features_match_a_hand_computed_example():
    features = compute_snapshot(TRANSACTIONS)
    a = features.loc["a"]
    assert a["recency_days"] == pytest.approx(20.0)
    assert a["tenure_days"] == pytest.approx(30.0)
    assert (a["orders_per_month"], a["spend_per_month"]) == (pytest.approx(2.0), pytest.approx(130.0))  # tenure under a month counts as one
    assert (a["orders"], a["purchase_days"]) == (2, 2)
    # r1 takes back 20 of o2 (the latest order of product X before it): o2 is worth 30.
    assert (a["spend"], a["net_spend"]) == (pytest.approx(130.0), pytest.approx(130.0))
    assert (a["mean_order_value"], a["max_order_value"]) == (pytest.approx(65.0), pytest.approx(100.0))
    assert a["mean_basket_items"] == pytest.approx(2.0)
    assert (a["orders_15d"], a["orders_30d"], a["spend_15d"], a["spend_30d"]) == (0, 2, 0.0, pytest.approx(130.0))
    assert (a["mean_gap_days"], a["last_gap_days"]) == (pytest.approx(10.0), pytest.approx(10.0))
    assert a["mean_repeat_day_spend"] == pytest.approx(30.0)  # the first day's 100 left out
    assert pd.isna(a["std_gap_days"])  # one gap has no spread
    assert a["overdue_ratio"] == pytest.approx(2.0)
    assert (a["return_orders"], a["returns_value"], a["return_share"]) == (1, pytest.approx(20.0), pytest.approx(1 / 3))
    assert (a["distinct_products"], a["repeat_product_share"], a["multi_product"]) == (2, pytest.approx(0.5), 1)
    assert a["mean_basket_lines"] == pytest.approx(1.5)
    assert a["orders_trend_15d"] == 0.0  # none in the last 15 days, two in the 15 before
    assert pd.isna(a["orders_trend_30d"])  # nothing in the 30 days before: no base for a trend
    assert a["spend_trend_15d"] == 0.0


def test_purchase_rhythm_of_a_regular_buyer():
    d = compute_snapshot(TRANSACTIONS).loc["d"]
    assert (d["purchase_days"], d["mean_gap_days"], d["last_gap_days"]) == (3, pytest.approx(7.0), pytest.approx(10.0))
    assert d["std_gap_days"] == pytest.approx(4.242641, rel=1e-6)  # sample sd of gaps 4 and 10
    assert d["overdue_ratio"] == pytest.approx(16 / 7)
    assert (d["orders_15d"], d["orders_trend_15d"]) == (0, 0.0)
    assert (d["distinct_products"], d["repeat_product_share"], d["multi_product"]) == (1, 1.0, 0)


def test_orders_on_the_same_day_make_one_purchase_day():
    lines = [
        ("e", "2021-01-02 09:00", "o1", "X", 1.0, 10.0, False),
        ("e", "2021-01-02 17:30", "o2", "Y", 1.0, 30.0, False),
        ("e", "2021-01-05 12:00", "o3", "X", 1.0, 5.0, False),
        ("e", "2021-01-05 12:00", "o4", "Y", 1.0, 7.0, False),  # the same second as o3
        ("e", "2021-01-12 08:00", "o5", "X", 1.0, 8.0, False),
    ]
    e = compute_snapshot(transactions_frame(lines)).loc["e"]
    assert (e["orders"], e["purchase_days"]) == (5, 3)
    assert (e["mean_gap_days"], e["last_gap_days"]) == (pytest.approx(5.0), pytest.approx(7.0))  # gaps 3 and 7
    assert e["std_gap_days"] == pytest.approx(8 ** 0.5)
    assert e["mean_repeat_day_spend"] == pytest.approx(10.0)  # both orders of the first day left out


def test_the_spread_of_gaps_is_exact_whatever_order_the_rows_come_in():
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta([0, 3, 7, 8, 20, 21, 50, 51, 52, 90, 130, 131], unit="D")
    lines = [("f", str(day), f"o{k}", "X", 1.0, 1.0, False) for k, day in enumerate(days)]
    forward = compute_snapshot(transactions_frame(lines))
    backward = compute_snapshot(transactions_frame(lines[::-1]))
    pd.testing.assert_frame_equal(forward, backward, check_exact=True)
    gaps = pd.Series(days).diff().dt.days.dropna()
    assert forward.loc["f", "std_gap_days"] == pytest.approx(gaps.std(), rel=1e-12)


def test_one_time_buyers_have_no_gap_and_no_returns():
    b = compute_snapshot(TRANSACTIONS).loc["b"]
    assert b["recency_days"] == pytest.approx(1.0)
    assert pd.isna(b["mean_gap_days"]) and pd.isna(b["overdue_ratio"]) and pd.isna(b["mean_repeat_day_spend"])
    assert (b["return_orders"], b["returns_value"], b["return_share"]) == (0, 0.0, 0.0)


def test_a_snapshot_holds_exactly_the_customers_who_bought_before_the_cutoff():
    assert sorted(compute_snapshot(TRANSACTIONS).index) == ["a", "b", "d"]


def test_labels_describe_the_horizon_after_the_cutoff():
    features = compute_snapshot(TRANSACTIONS)
    a, b = features.loc["a"], features.loc["b"]
    assert (a["future_orders"], a["future_spend"], a["days_to_next_purchase"], a["churned"]) == (1, 30.0, 1.0, False)
    assert (b["future_orders"], b["future_spend"], b["churned"]) == (0, 0.0, True)
    assert pd.isna(b["days_to_next_purchase"])
    short = compute_snapshot(TRANSACTIONS, horizon_days=1).loc["a"]
    assert short["churned"]  # the purchase on day 1 is outside a one-day window [T, T + 1 day)


def test_engagement_features_count_events_per_type_and_window():
    features = compute_snapshot(TRANSACTIONS, EVENTS)
    a, b = features.loc["a"], features.loc["b"]
    assert (a["events_login_15d"], a["events_login_30d"], a["events_like_it_30d"]) == (2, 2, 0)
    assert a["days_since_last_event"] == pytest.approx(1.0)
    assert (a["active_days_15d"], a["active_days_30d"]) == (2, 2)
    assert a["engagement_index"] == pytest.approx(100 * 2 / 15)
    assert pd.isna(a["events_login_trend_15d"])  # no logins in the 15 days before
    assert (b["events_login_30d"], b["events_like_it_30d"], b["engagement_index"]) == (0, 0, 0)
    assert pd.isna(b["days_since_last_event"])


def test_rows_at_or_after_the_cutoff_change_no_feature():
    before = compute_snapshot(TRANSACTIONS, EVENTS, horizon_days=None)
    later = transactions_frame(
        [("a", "2021-01-31", "o9", "Q", 5.0, 500.0, False), ("b", "2021-03-01", "r9", "Z", -1.0, -10.0, True)]
    )
    more_events = pd.DataFrame({"customer_id": ["b"], "timestamp": pd.to_datetime(["2021-01-31"]).astype("datetime64[us]"),
                                "event_type": ["login"], "value": [1.0], "source_row": [9]})
    after = compute_snapshot(pd.concat([TRANSACTIONS, later]), pd.concat([EVENTS, more_events]), horizon_days=None)
    pd.testing.assert_frame_equal(before, after)


SUBSCRIPTIONS = pd.DataFrame(
    [
        ("a", "2020-12-01", "2021-01-01", "basic", 10.0, 0.0),
        ("a", "2021-01-01", "2021-02-01", "pro", 20.0, 0.1),
        ("a", "2021-02-01", "2021-03-01", "pro", 20.0, 0.0),
        ("a", "2021-03-01", "2021-04-01", "pro", 20.0, 0.0),
        ("b", "2021-01-10", "2021-02-10", "basic", 10.0, 0.0),
        ("e", "2020-10-01", "2020-11-01", "basic", 10.0, 0.0),
    ],
    columns=["customer_id", "start", "end", "plan", "price", "discount"],
).assign(
    start=lambda f: pd.to_datetime(f["start"]).astype("datetime64[us]"),
    end=lambda f: pd.to_datetime(f["end"]).astype("datetime64[us]"),
    source_row=lambda f: range(1, len(f) + 1),
)


def test_with_subscriptions_the_snapshot_holds_subscribers_and_churn_is_a_lapsed_subscription():
    features = compute_snapshot(TRANSACTIONS, subscriptions=SUBSCRIPTIONS)
    assert sorted(features.index) == ["a", "b"]  # d bought but never subscribed; e lapsed before the cutoff
    a, b = features.loc["a"], features.loc["b"]
    assert (a["subscription_periods"], a["current_plan"], a["current_price"], a["current_discount"]) == (2, "pro", 20.0, 0.1)
    assert a["months_subscribed"] == pytest.approx((31 + 30) / 30.4375)  # the running period counts to the cutoff
    assert a["days_since_first_subscription"] == pytest.approx(61.0)
    assert not a["churned"]  # renewed, subscribed at cutoff + 30 days
    assert b["churned"]  # ended 2021-02-10 with no renewal


def test_a_subscription_that_ends_exactly_at_the_horizon_has_lapsed_unless_renewed_then():
    horizon_end = "2021-03-02"  # the cutoff 2021-01-31 + 30 days
    periods = pd.DataFrame(
        [("k", "2021-01-15", horizon_end), ("m", "2021-01-15", horizon_end), ("m", horizon_end, "2021-04-02")],
        columns=["customer_id", "start", "end"],
    ).assign(
        start=lambda f: pd.to_datetime(f["start"]).astype("datetime64[us]"),
        end=lambda f: pd.to_datetime(f["end"]).astype("datetime64[us]"),
        plan="basic", price=10.0, discount=0.0, source_row=lambda f: range(1, len(f) + 1),
    )
    features = compute_snapshot(TRANSACTIONS, subscriptions=periods)
    assert features.loc["k", "churned"] and not features.loc["m", "churned"]


def test_customer_attributes_join_as_text_features():
    customers = pd.DataFrame({"customer_id": ["a", "b"], "customer_channel": ["web", "app"], "source_row": [1, 2]})
    features = compute_snapshot(TRANSACTIONS, customers=customers)
    assert features["customer_channel"].fillna("(none)").to_dict() == {"a": "web", "b": "app", "d": "(none)"}


def test_training_cutoffs_end_their_label_windows_by_as_of():
    as_of = dt.datetime(2011, 12, 10)
    cutoffs = training_cutoffs(as_of, horizon_days=90, count=3, spacing_days=30)
    assert cutoffs == [dt.datetime(2011, 7, 13), dt.datetime(2011, 8, 12), dt.datetime(2011, 9, 11)]
    assert all(cutoff + dt.timedelta(days=90) <= as_of for cutoff in cutoffs)


def test_default_as_of_is_the_midnight_after_the_last_transaction():
    assert default_as_of(dt.datetime(2011, 12, 9, 12, 50)) == dt.datetime(2011, 12, 10)


def test_spend_is_exact_whatever_order_the_rows_are_added_in():
    # As floats, (0.1 + 0.2) + 0.3 and (0.3 + 0.2) + 0.1 differ in the last bit: parallel
    # workers finishing in another order gave features that changed from run to run.
    lines = [("c1", "2021-01-10", "o1", "p", 1, amount, False) for amount in (0.1, 0.2, 0.3)]
    lines += [("c1", "2021-01-12", "o2", "p", 1, -0.1, True)]
    forward = compute_snapshot(transactions_frame(lines))
    backward = compute_snapshot(transactions_frame(lines[::-1]))
    pd.testing.assert_frame_equal(forward, backward, check_exact=True)
    assert forward.loc["c1", "spend"] == 0.5 and forward.loc["c1", "net_spend"] == 0.5


def test_an_order_returned_in_full_is_no_purchase_before_the_cutoff_or_in_the_label_window():
    lines = [
        ("f", "2021-01-05", "o1", "X", 2.0, 40.0, False),
        ("f", "2021-01-06", "r1", "X", -2.0, -40.0, True),  # o1 back in full
        ("f", "2021-01-10", "o2", "Y", 1.0, 25.0, False),
        ("f", "2021-02-03", "o3", "Z", 1.0, 70.0, False),  # after the cutoff ...
        ("f", "2021-02-04", "r2", "Z", -1.0, -70.0, True),  # ... and back in the label window
        ("g", "2021-01-20", "o4", "X", 1.0, 15.0, False),
        ("g", "2021-02-02", "r3", "X", -1.0, -15.0, True),  # returns a purchase made before the cutoff
        ("h", "2021-01-02", "o5", "X", 1.0, 30.0, False),
        ("h", "2021-01-03", "r4", "W", -1.0, -12.0, True),  # W was bought before the data began
    ]
    snapshot = compute_snapshot(transactions_frame(lines))
    f, g, h = snapshot.loc["f"], snapshot.loc["g"], snapshot.loc["h"]
    assert (f["orders"], f["spend"], f["net_spend"]) == (1, pytest.approx(25.0), pytest.approx(25.0))
    assert (f["future_orders"], f["future_spend"], f["churned"]) == (0, 0.0, True)
    # The return after the cutoff is not known at it, and takes nothing from the label window.
    assert (g["orders"], g["spend"], g["churned"]) == (1, pytest.approx(15.0), True)
    assert (h["spend"], h["net_spend"], h["returns_value"]) == (pytest.approx(30.0), pytest.approx(18.0), pytest.approx(12.0))


def test_cutoffs_with_too_little_history_are_skipped():
    cutoffs = [dt.datetime(2021, 1, 10), dt.datetime(2021, 2, 9), dt.datetime(2021, 3, 11)]
    first = dt.datetime(2021, 1, 1)
    assert with_history(cutoffs, first, 30) == (cutoffs[1:], cutoffs[:1])  # 9 days of history; 39; 69
    assert with_history(cutoffs, first, 0) == (cutoffs, [])
    assert with_history(cutoffs, dt.datetime(2021, 3, 11), 0) == ([], cutoffs)  # none after the first transaction


def test_customers_are_those_who_bought_within_active_days_and_the_rest_have_lapsed():
    # At 31 January: a last bought on 11 January (20 days before), b on 30 January, d on 15 January.
    active = compute_snapshot(TRANSACTIONS, active_days=18)
    assert sorted(active.index) == ["b", "d"]
    lapsed = lapsed_customers(in_duckdb(TRANSACTIONS), CUTOFF, WINDOWS, active_days=18).to_pandas()
    assert lapsed["customer_id"].tolist() == ["a"] and lapsed["recency_days"].iloc[0] == pytest.approx(20.0)
    assert sorted(compute_snapshot(TRANSACTIONS).index) == ["a", "b", "d"]  # no rule: every buyer before the cutoff


def test_rates_per_month_of_tenure_read_alike_at_any_age():
    monthly = [("y", f"{year}-{month:02d}-03", f"o{year}{month}", "X", 1.0, 10.0, False) for year in (2019, 2020) for month in range(1, 13)]
    old = compute_snapshot(transactions_frame(monthly), horizon_days=None, cutoff=dt.datetime(2021, 1, 1)).loc["y"]
    young = compute_snapshot(transactions_frame(monthly[12:]), horizon_days=None, cutoff=dt.datetime(2021, 1, 1)).loc["y"]
    assert old["orders"] == 2 * young["orders"]
    assert old["orders_per_month"] == pytest.approx(young["orders_per_month"], rel=0.06)
    assert old["spend_per_month"] == pytest.approx(10.0 * old["orders_per_month"])


def test_an_order_of_free_items_without_returns_is_a_purchase():
    free = compute_snapshot(transactions_frame([("k", "2021-01-20", "o1", "X", 1.0, 0.0, False)]), horizon_days=None).loc["k"]
    assert (free["orders"], free["spend"]) == (1, 0.0)
