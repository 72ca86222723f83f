"""Subscription facts at a cutoff, and who is a subscriber then.

A customer is subscribed at T when a billing period started before T and has not ended
before T (an end on T itself still counts: the renewal that follows starts at T). End dates
are known when a period starts, so reading them is no look into the future.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from features.rfm import SECONDS_PER_DAY, days_between, seconds_between, timestamp

AVERAGE_MONTH_DAYS = 30.4375


def active_at(subscriptions: ir.Table, moment: dt.datetime) -> ir.BooleanValue:
    at = timestamp(moment)
    return (subscriptions.start < at) & (subscriptions.end.isnull() | (subscriptions.end >= at))


def subscribers_at(subscriptions: ir.Table, moment: dt.datetime) -> ir.Table:
    """The customer ids with an active subscription at `moment`."""
    return subscriptions.filter(active_at(subscriptions, moment)).select("customer_id").distinct()


def subscription_features(subscriptions: ir.Table, cutoff: dt.datetime) -> ir.Table:
    """Per customer with a period started before `cutoff`: plan, price and discount of the latest, time subscribed."""
    at = timestamp(cutoff)
    started = subscriptions.filter(subscriptions.start < at)
    # A period still running at the cutoff counts up to the cutoff only.
    counted_end = ibis.ifelse(started.end.isnull() | (started.end > at), at, started.end)
    return started.group_by("customer_id").aggregate(
        subscription_periods=started.count(),
        months_subscribed=seconds_between(started.start, counted_end).sum().cast("float64") / (SECONDS_PER_DAY * AVERAGE_MONTH_DAYS),
        days_since_first_subscription=days_between(started.start.min(), at),
        current_plan=started.plan.argmax(started.start),
        current_price=started.price.argmax(started.start),
        current_discount=started.discount.argmax(started.start),
    )
