"""Snapshots: the customers of a cutoff, their features then, and (for training) what followed.

A snapshot at cutoff T holds every customer with a purchase before T. Training snapshots
have label windows [T, T + horizon) that all end by `as_of`, so no label looks past the
data the scores are made from.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from features.engagement import engagement_features
from features.labels import future_outcomes
from features.rfm import join_on_customer, rfm_features

LABEL_COLUMNS = ("future_orders", "future_spend", "days_to_next_purchase", "churned")


def default_as_of(last_timestamp: dt.datetime) -> dt.datetime:
    """The day after the last transaction, at midnight: every transaction is history."""
    return dt.datetime.combine(last_timestamp.date() + dt.timedelta(days=1), dt.time())


def training_cutoffs(as_of: dt.datetime, horizon_days: int, count: int, spacing_days: int) -> list[dt.datetime]:
    """`count` cutoffs, `spacing_days` apart, the latest one horizon before `as_of`; oldest first."""
    latest = as_of - dt.timedelta(days=horizon_days)
    return [latest - dt.timedelta(days=spacing_days * k) for k in reversed(range(count))]


def snapshot(
    transactions: ir.Table,
    events: ir.Table | None,
    cutoff: dt.datetime,
    windows_days: list[int],
    event_types: list[str],
    horizon_days: int | None = None,
) -> ir.Table:
    """Features at `cutoff` for its customers; with `horizon_days`, their labels as well."""
    table = rfm_features(transactions, cutoff, windows_days)
    if events is not None and event_types:
        engagement = engagement_features(events, cutoff, windows_days, event_types)
        counts = [name for name in engagement.columns if name not in ("customer_id", "days_since_last_event")]
        table = join_on_customer(table, engagement)
        table = table.mutate(**{name: table[name].fill_null(0) for name in counts})
    table = table.mutate(cutoff=ibis.literal(cutoff, type="timestamp"))
    if horizon_days is not None:
        outcomes = future_outcomes(transactions, cutoff, horizon_days)
        table = join_on_customer(table, outcomes)
        table = table.mutate(
            future_orders=table.future_orders.fill_null(0),
            future_spend=table.future_spend.fill_null(0.0),
            churned=table.future_orders.isnull(),
        )
    return table.order_by("customer_id")
