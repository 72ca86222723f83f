"""What happened in the horizon after a cutoff: the targets of the churn and CLV models."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from features.rfm import days_between, purchase_orders, timestamp


def future_outcomes(transactions: ir.Table, cutoff: dt.datetime, horizon_days: int) -> ir.Table:
    """Per customer who bought in [cutoff, cutoff + horizon): purchases, spend, days to the first one."""
    at, end = timestamp(cutoff), timestamp(cutoff + dt.timedelta(days=horizon_days))
    window = transactions.filter((transactions.timestamp >= at) & (transactions.timestamp < end))
    orders = purchase_orders(window)
    return orders.group_by("customer_id").aggregate(
        future_orders=orders.count(),
        future_spend=orders.order_value.sum().cast("float64"),
        days_to_next_purchase=days_between(at, orders.ordered_at.min()),
    )


def still_subscribed(subscriptions: ir.Table, cutoff: dt.datetime, horizon_days: int) -> ir.Table:
    """customer_id, still_subscribed = True for those with a billing period [start, end) that covers
    cutoff + horizon: a subscription that ends exactly then has lapsed, unless a renewal starts then."""
    end = timestamp(cutoff + dt.timedelta(days=horizon_days))
    running = subscriptions.filter((subscriptions.start <= end) & (subscriptions.end.isnull() | (subscriptions.end > end)))
    return running.select("customer_id").distinct().mutate(still_subscribed=ibis.literal(True))
