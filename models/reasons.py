"""A customer's churn risk in plain words: the features that push it up most, from SHAP values.

Each feature name pattern has phrasings, tried in order; a phrasing is used when every value
it names is known for the customer ("no purchase for 142 days, usually every 30" needs a usual
gap; a one-time buyer gets "no purchase for 142 days, and only one before").
"""

from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd

REASONS = 3
SEPARATOR = "; "
BATCH_ROWS = 50_000  # customers explained at a time (`explain`)

# (feature name pattern, phrasings). `value` is the feature's value; named groups and the
# customer's other features can be used too.
PHRASINGS: list[tuple[str, tuple[str, ...]]] = [
    (r"recency_days", ("no purchase for {value:.0f} days, usually every {mean_gap_days:.0f}", "no purchase for {value:.0f} days, and only one before", "no purchase yet")),
    (r"overdue_ratio", ("last purchase {recency_days:.0f} days ago, {value:.1f} times the usual gap", "one purchase day so far")),
    (r"mean_gap_days", ("buys every {value:.0f} days on average", "one purchase day so far")),
    (r"last_gap_days", ("waited {value:.0f} days between the last two purchases", "one purchase day so far")),
    (r"std_gap_days", ("buys irregularly (gaps vary by {value:.0f} days)", "too few purchases to show a rhythm")),
    (r"orders", ("{value:.0f} purchase(s) in all",)),
    (r"purchase_days", ("bought on {value:.0f} day(s) in all",)),
    (r"tenure_days", ("a customer for {value:.0f} days",)),
    (r"(net|gross)_spend", ("spent {value:,.0f} in all",)),
    (r"mean_order_value", ("average order {value:,.0f}",)),
    (r"max_order_value", ("largest order {value:,.0f}",)),
    (r"mean_repeat_day_spend", ("spends {value:,.0f} on a typical repeat visit", "has not come back to buy again")),
    (r"mean_basket_(?P<what>items|lines)", ("{value:.1f} {what} per order",)),
    (r"orders_(?P<days>\d+)d", ("{value:.0f} purchase(s) in the last {days} days",)),
    (r"spend_(?P<days>\d+)d", ("spent {value:,.0f} in the last {days} days",)),
    (r"orders_trend_(?P<days>\d+)d", ("purchases in the last {days} days at {value:.0%} of the {days} days before", "no purchase in the {days} days before the last {days}")),
    (r"spend_trend_(?P<days>\d+)d", ("spend in the last {days} days at {value:.0%} of the {days} days before", "no spend in the {days} days before the last {days}")),
    (r"return_share", ("{value:.0%} of orders returned",)),
    (r"return_orders", ("{value:.0f} order(s) returned",)),
    (r"returns_value", ("returned goods worth {value:,.0f}",)),
    (r"distinct_products", ("bought {value:.0f} different product(s)",)),
    (r"repeat_product_share", ("{value:.0%} of products bought more than once",)),
    (r"events_(?P<type>.+)_trend_(?P<days>\d+)d", ("{type} events in the last {days} days at {value:.0%} of the {days} days before",)),
    (r"events_(?P<type>.+)_(?P<days>\d+)d", ("{value:.0f} {type} event(s) in the last {days} days",)),
    (r"active_days_(?P<days>\d+)d", ("active on {value:.0f} of the last {days} days",)),
    (r"days_since_last_event", ("no activity for {value:.0f} days", "no activity recorded")),
    (r"engagement_index", ("engagement index {value:.0f} of 100",)),
    (r"months_subscribed", ("subscribed for {value:.0f} months",)),
    (r"(?P<name>.+)", ("{name} is {value}",)),
]
_COMPILED = [(re.compile(pattern), phrasings) for pattern, phrasings in PHRASINGS]
# Flags: (phrase when 0, phrase when 1).
FLAGS = {"multi_product": ("bought one product only", "bought more than one product")}


def _fields(template: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def _known(value) -> bool:
    return not (value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA)


def phrase(feature: str, customer: dict) -> str:
    """One feature of one customer in words."""
    value = customer.get(feature)
    if feature in FLAGS and _known(value):
        return FLAGS[feature][int(bool(value))]
    for pattern, phrasings in _COMPILED:
        match = pattern.fullmatch(feature)
        if match is None:
            continue
        fields = customer | match.groupdict() | {"value": value}
        for template in phrasings:
            if all(_known(fields.get(name)) for name in _fields(template)):
                return template.format(**fields)
    return f"{feature} is unknown"


def explain(snapshot: pd.DataFrame, model, count: int = REASONS, batch_rows: int = BATCH_ROWS) -> pd.Series:
    """`top_reasons` from the model's SHAP values, a batch of customers at a time: the values and the
    phrases of one batch are held at once, not everyone's (a row's reasons do not depend on its batch)."""
    batches = [snapshot.iloc[start:start + batch_rows] for start in range(0, len(snapshot), batch_rows)]
    if not batches:
        return pd.Series([], index=snapshot.index, dtype=object)
    return pd.concat([top_reasons(batch, model.contributions(batch), count) for batch in batches])


def top_reasons(snapshot: pd.DataFrame, contributions: pd.DataFrame, count: int = REASONS) -> pd.Series:
    """Per customer, the features that raise the churn risk most, in words: `count` distinct
    phrases joined by '; ' (two features can say the same, e.g. a one-time buyer's gaps).

    Only features that raise the risk are named: a customer whose every feature lowers it has none.
    """
    values = contributions.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")
    features = np.asarray(contributions.columns)
    reasons = []
    for row, customer in enumerate(snapshot.to_dict("records")):
        phrases: list[str] = []
        for column in order[row]:
            if values[row, column] <= 0 or len(phrases) == count:
                break
            text = phrase(features[column], customer)
            if text not in phrases:
                phrases.append(text)
        reasons.append(SEPARATOR.join(phrases))
    return pd.Series(reasons, index=snapshot.index, dtype=object)
