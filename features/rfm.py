"""Recency, frequency, monetary and breadth features of each customer at a cutoff.

Written once, as Ibis expressions over the clean transaction table, so the same definition
runs in DuckDB on one machine and on Spark for data that outgrows it. Every expression sees
only rows strictly before the cutoff.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

SECONDS_PER_DAY = 86_400.0


def days_between(earlier: ir.TimestampValue, later: ir.TimestampValue) -> ir.FloatingValue:
    """Fractional days from `earlier` to `later`, computed the same way on every backend."""
    return (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / SECONDS_PER_DAY


def join_on_customer(left: ir.Table, right: ir.Table) -> ir.Table:
    """Left join on customer_id, keeping one customer_id column."""
    return left.left_join(right, "customer_id").drop("customer_id_right")


def purchase_orders(transactions: ir.Table) -> ir.Table:
    """One row per purchase (an order's non-return lines): when, how much, how many items."""
    lines = transactions.filter(~transactions.is_return)
    return lines.group_by(["customer_id", "order_id"]).aggregate(
        ordered_at=lines.timestamp.min(),
        order_value=lines.amount.sum(),
        order_items=lines.quantity.sum(),
    )


def rfm_features(transactions: ir.Table, cutoff: dt.datetime, windows_days: list[int]) -> ir.Table:
    """Per customer who bought before `cutoff`: RFM, trailing windows, returns and breadth."""
    at = ibis.literal(cutoff, type="timestamp")
    history = transactions.filter(transactions.timestamp < at)
    orders = purchase_orders(history)

    window_aggregates = {}
    for days in windows_days:
        since = ibis.literal(cutoff - dt.timedelta(days=days), type="timestamp")
        recent = orders.ordered_at >= since
        window_aggregates[f"orders_{days}d"] = orders.order_value.count(where=recent)
        window_aggregates[f"spend_{days}d"] = orders.order_value.sum(where=recent).fill_null(0.0)

    per_customer = orders.group_by("customer_id").aggregate(
        first_purchase=orders.ordered_at.min(),
        last_purchase=orders.ordered_at.max(),
        orders=orders.order_id.nunique(),
        purchase_days=orders.ordered_at.date().nunique(),
        gross_spend=orders.order_value.sum(),
        mean_order_value=orders.order_value.mean(),
        max_order_value=orders.order_value.max(),
        mean_basket_items=orders.order_items.mean(),
        **window_aggregates,
    )

    returns = history.filter(history.is_return)
    per_customer_returns = returns.group_by("customer_id").aggregate(
        return_orders=returns.order_id.nunique(),
        returns_value=-returns.amount.sum(),
    )
    purchased = history.filter(~history.is_return)
    breadth = purchased.group_by("customer_id").aggregate(distinct_products=purchased["product"].nunique())

    joined = join_on_customer(join_on_customer(per_customer, per_customer_returns), breadth)
    recency = days_between(joined.last_purchase, at)
    tenure = days_between(joined.first_purchase, at)
    active_span = days_between(joined.first_purchase, joined.last_purchase)
    # Mean gap between purchase days; undefined (null) for customers who bought on one day only.
    mean_gap = ibis.ifelse(joined.purchase_days > 1, active_span / (joined.purchase_days - 1), ibis.null("float64"))
    return_orders = joined.return_orders.fill_null(0)
    returns_value = joined.returns_value.fill_null(0.0)
    features = joined.mutate(
        recency_days=recency,
        tenure_days=tenure,
        net_spend=joined.gross_spend - returns_value,
        mean_gap_days=mean_gap,
        overdue_ratio=recency / mean_gap,
        return_orders=return_orders,
        returns_value=returns_value,
        return_share=return_orders / (joined.orders + return_orders),
        distinct_products=joined.distinct_products.fill_null(0),
    )
    return features.drop("first_purchase", "last_purchase")
