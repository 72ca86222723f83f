"""Retention KPIs against a small example worked out by hand (see the comments)."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

from features.kpis import cohort_retention, kpis_by_period, purchase_tables
from tests.features.snapshot_helpers import transactions_frame

UNTIL = dt.datetime(2021, 3, 1)


def lines(rows, period: str = "month") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The purchases and each customer's distinct products per period, by the pipeline's one definition of a purchase."""
    frame = transactions_frame([(customer, day, order, product, 1.0, amount, amount < 0) for customer, day, order, product, amount in rows])
    con = ibis.duckdb.connect()
    purchases, products = purchase_tables(con.create_table("lines", frame), UNTIL, period)
    return con.to_pandas(purchases.order_by(["customer_id", "order_id"])), con.to_pandas(products.order_by(["customer_id", "period_start"]))


PURCHASES, PRODUCTS = lines([
    ("D", "2020-12-15", "d1", "p1", 100.0),
    ("A", "2021-01-05", "a1", "p1", 10.0), ("A", "2021-01-05", "a1", "p2", 20.0),
    ("B", "2021-01-20", "b1", "p1", 50.0), ("B", "2021-01-25", "b2", "p1", 10.0),
    ("A", "2021-02-10", "a2", "p1", 30.0),
    ("C", "2021-02-15", "c1", "p3", 40.0), ("C", "2021-02-16", "c1r", "p3", -5.0),
    ("A", "2021-03-02", "a3", "p1", 99.0),  # after `until`: March is not complete
])


def test_monthly_kpis_match_the_hand_computed_example():
    kpis = kpis_by_period(PURCHASES, UNTIL, products=PRODUCTS, period="month", active_days=30).set_index("period")
    assert list(kpis.index) == ["2020-12", "2021-01", "2021-02"]
    january, february = kpis.loc["2021-01"], kpis.loc["2021-02"]
    # January: D (bought 15 Dec) is the one customer at start; A and B are new; D lapses.
    assert (january["customers_at_start"], january["new_customers"], january["customers_at_end"], january["lost_customers"]) == (1, 2, 2, 1)
    assert january["retention_rate"] == 0.0 and january["churn_rate"] == 100.0  # (2 - 2) / 1; 1 / 1
    assert january["orders"] == 3 and january["revenue"] == 90.0
    assert january["repeat_purchase_rate"] == 50.0  # B bought twice, A once
    assert january["upsell_ratio"] == 1.0  # A bought two products, B one
    assert (january["average_order_value"], january["sales_per_customer"], january["purchase_frequency"]) == (30.0, 45.0, 1.5)
    assert january["average_lifetime_periods"] == 1.0 and january["simple_clv"] == 45.0  # 30 x 1.5 x 100 / 100
    # February: A and B at start; B lapses (last bought 25 Jan, more than 30 days before 1 Mar); C is new.
    assert (february["customers_at_start"], february["new_customers"], february["customers_at_end"], february["lost_customers"]) == (2, 1, 2, 1)
    assert february["retention_rate"] == 50.0 and february["churn_rate"] == 50.0
    assert february["revenue"] == 65.0 and february["orders"] == 2  # C's return takes 5 back from C's order
    assert february["upsell_ratio"] == 0.0 and february["repeat_purchase_rate"] == 0.0
    assert february["simple_clv"] == pytest.approx(32.5 * 1.0 * 2.0)
    assert np.isnan(kpis.loc["2020-12", "retention_rate"])  # nobody to retain yet
    assert "nps" not in kpis and "engagement_index" not in kpis


def test_nps_and_engagement_index_when_their_sources_are_mapped():
    surveys = pd.DataFrame({"customer_id": ["A", "B", "C", "D", "A", "B"],
                            "timestamp": pd.to_datetime(["2021-02-02", "2021-02-03", "2021-02-04", "2021-02-05", "2021-02-06", "2021-01-10"]),
                            "score": [10.0, 9.0, 7.0, 3.0, 0.0, 10.0]})
    events = pd.DataFrame({"customer_id": ["A", "A", "A"],
                           "timestamp": pd.to_datetime(["2021-02-01 08:00", "2021-02-01 20:00", "2021-02-03 09:00"])})
    kpis = kpis_by_period(PURCHASES, UNTIL, active_days=30, surveys=surveys, events=events).set_index("period")
    assert kpis.loc["2021-02", "nps"] == 0.0  # 2 promoters, 2 detractors of 5
    assert kpis.loc["2021-01", "nps"] == 100.0
    # Customers at the end of February: A (2 active days of 28) and C (none).
    assert kpis.loc["2021-02", "engagement_index"] == pytest.approx(100 * 2 / 28 / 2)


def test_subscriptions_define_who_is_a_customer():
    subscriptions = pd.DataFrame({"customer_id": ["A", "B"], "start": pd.to_datetime(["2020-12-20", "2021-01-10"]),
                                  "end": pd.to_datetime(["2021-01-31", pd.NaT])})
    kpis = kpis_by_period(PURCHASES, UNTIL, subscriptions=subscriptions).set_index("period")
    # At 1 Feb A's period has ended (31 Jan) and B's runs: one at start of February, still there at its end.
    assert kpis.loc["2021-02", "customers_at_start"] == 1 and kpis.loc["2021-02", "retention_rate"] == 100.0
    assert kpis.loc["2021-01", "new_customers"] == 1  # B; A subscribed in December


def test_cohort_retention_by_month_of_first_purchase():
    matrix = cohort_retention(PURCHASES, UNTIL)
    assert list(matrix.index) == ["2020-12", "2021-01", "2021-02"]
    assert matrix.loc["2020-12"].tolist() == [1.0, 0.0, 0.0]  # D never came back
    assert matrix.loc["2021-01", 0] == 1.0 and matrix.loc["2021-01", 1] == 0.5  # A came back in February, B did not
    assert np.isnan(matrix.loc["2021-01", 2])  # March is not complete
    assert matrix.loc["2021-02", 0] == 1.0 and matrix.loc["2021-02", [1, 2]].isna().all()


def test_an_order_returned_in_full_is_no_sale_and_makes_no_customer():
    purchases, products = lines([
        ("A", "2021-01-05", "a1", "p1", 10.0),
        ("E", "2021-01-10", "e1", "p1", 25.0), ("E", "2021-01-12", "e1r", "p1", -25.0),
    ])
    kpis = kpis_by_period(purchases, UNTIL, products=products, active_days=30).set_index("period")
    assert (kpis.loc["2021-01", "orders"], kpis.loc["2021-01", "revenue"], kpis.loc["2021-01", "new_customers"]) == (1, 10.0, 1)


@pytest.mark.parametrize("period", ["week", "quarter"])
def test_products_are_counted_in_the_periods_pandas_names(period):
    # Sunday 10 and Monday 11 January 2021: two weeks (Monday to Sunday), one quarter.
    purchases, products = lines([
        ("A", "2021-01-10", "a1", "p1", 10.0), ("A", "2021-01-11", "a2", "p2", 10.0),
        ("B", "2021-01-11", "b1", "p1", 10.0),
    ], period)
    if period == "quarter":  # the quarter is not complete by `until`: only its counts to check
        assert products["products"].tolist() == [2, 1] and (products["period_start"] == pd.Timestamp("2021-01-01")).all()
        return
    kpis = kpis_by_period(purchases, UNTIL, products=products, period=period, active_days=30).set_index("period")
    assert kpis.loc["2021-01-04/2021-01-10", "upsell_ratio"] == 0.0  # A bought one product that week
    assert kpis.loc["2021-01-11/2021-01-17", "upsell_ratio"] == 0.0  # A and B one each that week
