"""What happened in the horizon after a cutoff: the targets of the churn and CLV models."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from features.rfm import days_between, purchase_orders


def future_outcomes(transactions: ir.Table, cutoff: dt.datetime, horizon_days: int) -> ir.Table:
    """Per customer who bought in [cutoff, cutoff + horizon): purchases, spend, days to the first one."""
    at = ibis.literal(cutoff, type="timestamp")
    end = ibis.literal(cutoff + dt.timedelta(days=horizon_days), type="timestamp")
    window = transactions.filter((transactions.timestamp >= at) & (transactions.timestamp < end))
    orders = purchase_orders(window)
    return orders.group_by("customer_id").aggregate(
        future_orders=orders.order_id.nunique(),
        future_spend=orders.order_value.sum(),
        days_to_next_purchase=days_between(at, orders.ordered_at.min()),
    )
