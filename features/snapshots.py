"""Snapshots: the customers of a cutoff, their features then, and (for training) what followed.

Who a snapshot at cutoff T holds, the customers at T (docs/definitions.md; the KPIs count alike):
- without subscriptions: every customer with a purchase in the `active_days` before T;
- with subscriptions: every customer subscribed at T (features/subscriptions.py).
Those who bought before but are not customers at T have lapsed (`lapsed_customers`): the
win-back list, not the churn model's population.
Training snapshots have label windows [T, T + horizon) that all end by `as_of`, so no label
looks past the data the scores are made from. Churned means no purchase in the window or,
with subscriptions, no active subscription at its end.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from features.engagement import engagement_features
from features.labels import future_outcomes, still_subscribed
from features.rfm import join_on_customer, rfm_features, timestamp
from features.subscriptions import subscribers_at, subscription_features

LABEL_COLUMNS = ("future_orders", "future_spend", "days_to_next_purchase", "churned")


@dataclass(frozen=True)
class Sources:
    """The clean tables a snapshot is made from; absent optional sources are None."""

    transactions: ir.Table
    events: ir.Table | None = None
    subscriptions: ir.Table | None = None
    customers: ir.Table | None = None
    event_types: tuple[str, ...] = ()

    @classmethod
    def reading_event_types(
        cls, transactions: ir.Table, events: ir.Table | None = None, subscriptions: ir.Table | None = None, customers: ir.Table | None = None
    ) -> Sources:
        """The sources, with the event types that the events table holds."""
        event_types = () if events is None else tuple(sorted(events.select("event_type").distinct().to_pandas()["event_type"]))
        return cls(transactions, events, subscriptions, customers, event_types)


def default_as_of(last_timestamp: dt.datetime) -> dt.datetime:
    """The day after the last transaction, at midnight: every transaction is history."""
    return dt.datetime.combine(last_timestamp.date() + dt.timedelta(days=1), dt.time())


def training_cutoffs(as_of: dt.datetime, horizon_days: int, count: int, spacing_days: int) -> list[dt.datetime]:
    """`count` cutoffs, `spacing_days` apart, the latest one horizon before `as_of`; oldest first."""
    latest = as_of - dt.timedelta(days=horizon_days)
    return [latest - dt.timedelta(days=spacing_days * k) for k in reversed(range(count))]


def earliest_start(as_of: dt.datetime, horizon_days: int, spacing_days: int, min_history_days: int) -> dt.datetime:
    """The latest date the data may begin for the shortest run: one backtest fold at the latest
    training cutoff, fitted on a cutoff at least a horizon before it, with its minimum history."""
    latest = as_of - dt.timedelta(days=horizon_days)
    steps = -(-horizon_days // spacing_days)  # whole spacings back to a horizon before the latest cutoff
    return latest - dt.timedelta(days=spacing_days * steps + min_history_days)


def with_history(cutoffs: list[dt.datetime], first_transaction: dt.datetime, min_history_days: int) -> tuple[list[dt.datetime], list[dt.datetime]]:
    """(kept, skipped): the cutoffs with at least `min_history_days` of data before them, and the others.

    A cutoff just after the data begins sees every customer as new and every long window empty,
    unlike the scoring snapshot: such rows teach the models a population they will never score.
    """
    enough = dt.timedelta(days=min_history_days)
    kept = [cutoff for cutoff in cutoffs if cutoff > first_transaction and cutoff - first_transaction >= enough]
    return kept, [cutoff for cutoff in cutoffs if cutoff not in kept]


def bought_recently(features: ir.Table, active_days: int | None) -> ir.Table:
    """The rows of `features` (transaction features at a cutoff) of those who bought in the `active_days` before it."""
    return features if active_days is None else features.filter(features.recency_days <= active_days)


def customers_at(sources: Sources, cutoff: dt.datetime, features: ir.Table, active_days: int | None) -> ir.Table:
    """The customer ids at `cutoff`; `features` are the transaction features at it (every buyer before it)."""
    if sources.subscriptions is not None:
        return subscribers_at(sources.subscriptions, cutoff)
    return bought_recently(features, active_days).select("customer_id")


def lapsed_customers(sources: Sources, cutoff: dt.datetime, windows_days: list[int], active_days: int | None) -> ir.Table:
    """The transaction features at `cutoff` of those who bought before it but are no customers at it."""
    bought = rfm_features(sources.transactions, cutoff, windows_days)
    return bought.anti_join(customers_at(sources, cutoff, bought, active_days), "customer_id").order_by("customer_id")


def snapshot(
    sources: Sources, cutoff: dt.datetime, windows_days: list[int], horizon_days: int | None = None, active_days: int | None = None
) -> ir.Table:
    """Features at `cutoff` for its customers; with `horizon_days`, their labels as well.
    `active_days`: who is a customer (the module docstring); None counts every buyer before `cutoff`."""
    bought = rfm_features(sources.transactions, cutoff, windows_days)  # exactly the customers who bought before T
    if sources.subscriptions is not None:
        table = join_on_customer(subscribers_at(sources.subscriptions, cutoff), bought)
    else:
        table = bought_recently(bought, active_days)
    if sources.events is not None and sources.event_types:
        engagement = engagement_features(sources.events, cutoff, windows_days, list(sources.event_types))
        counts = [name for name in engagement.columns if name.startswith(("events_", "active_days_", "engagement_index")) and "_trend_" not in name]
        table = join_on_customer(table, engagement)
        table = table.mutate(**{name: table[name].fill_null(0) for name in counts})
    if sources.subscriptions is not None:
        table = join_on_customer(table, subscription_features(sources.subscriptions, cutoff))
    if sources.customers is not None:
        table = join_on_customer(table, sources.customers.drop("source_row"))
    table = table.mutate(cutoff=timestamp(cutoff))
    if horizon_days is not None:
        table = join_on_customer(table, future_outcomes(sources.transactions, cutoff, horizon_days))
        if sources.subscriptions is not None:
            table = join_on_customer(table, still_subscribed(sources.subscriptions, cutoff, horizon_days))
            churned = table.still_subscribed.isnull()
        else:
            churned = table.future_orders.isnull()
        table = table.mutate(
            future_orders=table.future_orders.fill_null(0),
            future_spend=table.future_spend.fill_null(0.0),
            churned=churned,
        )
        if sources.subscriptions is not None:
            table = table.drop("still_subscribed")
    return table.order_by("customer_id")


def training_snapshots(
    sources: Sources, cutoffs: list[dt.datetime], windows_days: list[int], horizon_days: int, active_days: int | None = None
) -> ir.Table:
    """Every training cutoff's snapshot with labels, stacked, ordered by cutoff and customer."""
    stacked = ibis.union(*(snapshot(sources, cutoff, windows_days, horizon_days, active_days) for cutoff in cutoffs))
    return stacked.order_by(["cutoff", "customer_id"])
