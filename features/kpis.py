"""The retention KPIs a business already talks about, per period, and cohort retention.

Definitions (each per period [start, end), a calendar month by default):
- a customer at a moment t: bought in the `features.active_days` before t (with subscriptions: is
  subscribed at t: a billing period started before t and not ended before t): the rule the
  snapshots use (docs/definitions.md);
- customers_at_start, customers_at_end: customers at start and at end;
- new_customers: first purchase (first subscription) in the period;
- lost_customers: customers at start who are not customers at end;
- retention_rate = (customers_at_end - new_customers) / customers_at_start x 100;
- churn_rate = lost_customers / customers_at_start x 100 (with customers coming back after a
  pause, retention and churn need not add up to 100);
- purchases: orders net of their returns, an order returned in full being none (the one
  definition of docs/definitions.md, `features.rfm.purchase_orders`); buyers: customers with a
  purchase in the period; orders, revenue: their purchases and their value;
- repeat_purchase_rate: share of buyers with more than one purchase in the period x 100;
- upsell_ratio: buyers of more than one distinct product / buyers of exactly one;
- average_order_value = revenue / orders; sales_per_customer = revenue / buyers;
  purchase_frequency = orders / buyers;
- average_lifetime_periods = 100 / churn_rate; simple_clv = average_order_value x
  purchase_frequency x average_lifetime_periods;
- nps (with surveys): % of answers 9-10 minus % of answers 0-6, among the period's answers;
- engagement_index (with events): the mean over customers at end of 100 x days with any event
  in the period / days in the period.
Only complete periods are reported: those that end by `until`.

Cohort retention: customers by the period of their first purchase; for each later period, the
share of the cohort that bought in it.
"""

from __future__ import annotations

import datetime as dt

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from features.rfm import money_as_float, purchase_orders, timestamp

PERIODS = {"month": "M", "quarter": "Q", "week": "W"}
TRUNCATED = {"month": "M", "quarter": "Q", "week": "W"}  # the engine's unit: a period's first moment (weeks start on Monday, as pandas' do)


def purchase_tables(transactions: ir.Table, until: dt.datetime, period: str = "month") -> tuple[ir.Table, ir.Table]:
    """The purchases before `until` (customer_id, order_id, timestamp, value), by the one definition,
    and how many distinct products each customer bought in them per period (customer_id,
    period_start, products): counted by the engine, so no line reaches pandas."""
    history = transactions.filter(transactions.timestamp < timestamp(until))
    orders = money_as_float(purchase_orders(history))
    purchases = orders.select("customer_id", "order_id", timestamp=orders.ordered_at, value=orders.order_value)
    lines = history.filter(~history.is_return & history["product"].notnull()).select("customer_id", "order_id", "product")
    bought = lines.join(purchases, ["customer_id", "order_id"])
    products = bought.group_by(["customer_id", bought.timestamp.truncate(TRUNCATED[period]).name("period_start")]).aggregate(
        products=bought["product"].nunique()
    )
    return purchases, products


def _periods(first: pd.Timestamp, until: pd.Timestamp, period: str) -> pd.PeriodIndex:
    spans = pd.period_range(first.to_period(PERIODS[period]), until.to_period(PERIODS[period]), freq=PERIODS[period])
    return spans[spans.end_time < until]


def _customers_at(moment: pd.Timestamp, orders: pd.DataFrame, active_days: int, subscriptions: pd.DataFrame | None) -> set:
    if subscriptions is not None:
        running = (subscriptions["start"] < moment) & (subscriptions["end"].isna() | (subscriptions["end"] >= moment))
        return set(subscriptions.loc[running, "customer_id"])
    recent = (orders["timestamp"] >= moment - pd.Timedelta(days=active_days)) & (orders["timestamp"] < moment)
    return set(orders.loc[recent, "customer_id"])


def _percent(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else np.nan


def kpis_by_period(
    purchases: pd.DataFrame,
    until: dt.datetime,
    *,
    products: pd.DataFrame | None = None,
    period: str = "month",
    active_days: int = 90,
    subscriptions: pd.DataFrame | None = None,
    surveys: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per complete period.

    `purchases`: one row per purchase (customer_id, order_id, timestamp, value); `products`: the
    distinct products of each customer's purchases per period (customer_id, period_start,
    products; `purchase_tables`), for the upsell ratio.
    """
    until = pd.Timestamp(until)
    first_seen = (subscriptions.groupby("customer_id")["start"].min() if subscriptions is not None
                  else purchases.groupby("customer_id")["timestamp"].min())
    rows = []
    for span in _periods(purchases["timestamp"].min(), until, period):
        start, end = span.start_time, span.end_time.normalize() + pd.Timedelta(days=1)
        at_start = _customers_at(start, purchases, active_days, subscriptions)
        at_end = _customers_at(end, purchases, active_days, subscriptions)
        new = set(first_seen[(first_seen >= start) & (first_seen < end)].index)
        bought = purchases[(purchases["timestamp"] >= start) & (purchases["timestamp"] < end)]
        per_buyer = bought.groupby("customer_id").agg(orders=("order_id", "nunique"))
        if products is not None:
            per_buyer = per_buyer.join(products.loc[products["period_start"] == start].set_index("customer_id")["products"])
        orders, revenue, buyers = len(bought), float(bought["value"].sum()), len(per_buyer)
        churn_rate = _percent(len(at_start - at_end), len(at_start))
        row = {
            "period": str(span),
            "customers_at_start": len(at_start),
            "new_customers": len(new),
            "lost_customers": len(at_start - at_end),
            "customers_at_end": len(at_end),
            "retention_rate": _percent(len(at_end) - len(new), len(at_start)),
            "churn_rate": churn_rate,
            "buyers": buyers,
            "orders": orders,
            "revenue": revenue,
            "repeat_purchase_rate": _percent((per_buyer["orders"] > 1).sum(), buyers),
            "upsell_ratio": ((per_buyer["products"] > 1).sum() / (per_buyer["products"] == 1).sum())
            if "products" in per_buyer and (per_buyer["products"] == 1).any() else np.nan,
            "average_order_value": revenue / orders if orders else np.nan,
            "sales_per_customer": revenue / buyers if buyers else np.nan,
            "purchase_frequency": orders / buyers if buyers else np.nan,
        }
        row["average_lifetime_periods"] = 100.0 / churn_rate if churn_rate else np.nan
        row["simple_clv"] = row["average_order_value"] * row["purchase_frequency"] * row["average_lifetime_periods"]
        if surveys is not None:
            answers = surveys.loc[(surveys["timestamp"] >= start) & (surveys["timestamp"] < end), "score"]
            row["nps"] = _percent((answers >= 9).sum() - (answers <= 6).sum(), len(answers))
        if events is not None:
            in_period = events[(events["timestamp"] >= start) & (events["timestamp"] < end)]
            active = in_period.assign(day=in_period["timestamp"].dt.normalize()).groupby("customer_id")["day"].nunique()
            days = (end - start).days
            row["engagement_index"] = 100.0 * active.reindex(sorted(at_end), fill_value=0).mean() / days if at_end else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def cohort_retention(purchases: pd.DataFrame, until: dt.datetime, period: str = "month") -> pd.DataFrame:
    """Rows: cohorts by period of first purchase; columns: periods since (0, 1, ...); cells: share who bought.
    `purchases` as for `kpis_by_period`."""
    complete = _periods(purchases["timestamp"].min(), pd.Timestamp(until), period)
    freq = PERIODS[period]
    bought = pd.DataFrame({"customer_id": purchases["customer_id"], "span": purchases["timestamp"].dt.to_period(freq)})
    bought = bought[bought["span"].isin(complete)].drop_duplicates()
    cohort = bought.groupby("customer_id")["span"].min().rename("cohort")
    bought = bought.join(cohort, on="customer_id")
    bought["since"] = (bought["span"] - bought["cohort"]).apply(lambda offset: offset.n)
    active = bought.groupby(["cohort", "since"])["customer_id"].nunique().unstack("since", fill_value=0)
    active = active.reindex(columns=range(len(complete)), fill_value=0)
    matrix = active.div(active[0], axis=0)
    # A cell after the last complete period has not happened yet: empty, not 0.
    remaining = np.array([(complete[-1] - cohort_span).n for cohort_span in matrix.index])
    matrix = matrix.where(np.asarray(matrix.columns)[None, :] <= remaining[:, None])
    matrix.index = matrix.index.astype(str)
    matrix.columns = [int(column) for column in matrix.columns]
    return matrix.rename_axis("cohort").rename_axis(None, axis=1)
