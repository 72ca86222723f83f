"""Engagement features from an events log (logins, likes, messages, ...) at a cutoff.

Ibis expressions, like the transaction features: one definition for every backend.
"""

from __future__ import annotations

import datetime as dt
import re

import ibis.expr.types as ir

from features.rfm import days_between, ratio, timestamp


def feature_slug(label: str) -> str:
    """A column-name-safe form of an event type: 'Add to cart' -> 'add_to_cart'."""
    return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_") or "blank"


def engagement_features(
    events: ir.Table, cutoff: dt.datetime, windows_days: list[int], event_types: list[str]
) -> ir.Table:
    """Per customer with an event before `cutoff`: counts per type and window, trends, activity.

    engagement_index = 100 x (days with any event in the shortest window) / (its length in days):
    0 for a customer not seen in that window, 100 for one seen every day.
    """
    at = timestamp(cutoff)
    history = events.filter(events.timestamp < at)
    shortest = min(windows_days)
    start = {days: timestamp(cutoff - dt.timedelta(days=days)) for days in windows_days}
    before_shortest = timestamp(cutoff - dt.timedelta(days=2 * shortest))
    in_window = {days: history.timestamp >= start[days] for days in windows_days}
    in_previous = (history.timestamp >= before_shortest) & (history.timestamp < start[shortest])
    day = history.timestamp.truncate("D")

    aggregates, trends = {}, {}
    for event_type in event_types:
        slug, of_type = feature_slug(event_type), history.event_type == event_type
        for days in windows_days:
            aggregates[f"events_{slug}_{days}d"] = history.count(where=of_type & in_window[days])
        aggregates[f"_events_{slug}_prev"] = history.count(where=of_type & in_previous)
        trends[f"events_{slug}_trend_{shortest}d"] = (f"events_{slug}_{shortest}d", f"_events_{slug}_prev")
    for days in windows_days:
        aggregates[f"active_days_{days}d"] = day.nunique(where=in_window[days])
    per_customer = history.group_by("customer_id").aggregate(last_event=history.timestamp.max(), **aggregates)

    derived = {name: ratio(per_customer[recent], per_customer[previous]) for name, (recent, previous) in trends.items()}
    features = per_customer.mutate(
        days_since_last_event=days_between(per_customer.last_event, at),
        engagement_index=100.0 * per_customer[f"active_days_{shortest}d"].cast("float64") / shortest,
        **derived,
    )
    return features.drop("last_event", *[name for name in features.columns if name.startswith("_")])
