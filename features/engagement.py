"""Engagement features from an events log (logins, likes, messages, ...) at a cutoff.

Ibis expressions, like the RFM features: one definition for every backend.
"""

from __future__ import annotations

import datetime as dt
import re

import ibis
import ibis.expr.types as ir

from features.rfm import days_between


def feature_slug(label: str) -> str:
    """A column-name-safe form of an event type: 'Add to cart' -> 'add_to_cart'."""
    return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_") or "blank"


def engagement_features(
    events: ir.Table, cutoff: dt.datetime, windows_days: list[int], event_types: list[str]
) -> ir.Table:
    """Per customer with any event before `cutoff`: counts per event type and window, recency, activity."""
    at = ibis.literal(cutoff, type="timestamp")
    history = events.filter(events.timestamp < at)
    since = {days: ibis.literal(cutoff - dt.timedelta(days=days), type="timestamp") for days in windows_days}
    counts = {
        f"events_{feature_slug(event_type)}_{days}d": history.value.count(
            where=(history.event_type == event_type) & (history.timestamp >= since[days])
        )
        for event_type in event_types
        for days in windows_days
    }
    shortest = min(windows_days)
    per_customer = history.group_by("customer_id").aggregate(
        last_event=history.timestamp.max(),
        **{f"active_days_{shortest}d": history.timestamp.date().nunique(where=history.timestamp >= since[shortest])},
        **counts,
    )
    return per_customer.mutate(days_since_last_event=days_between(per_customer.last_event, at)).drop("last_event")
