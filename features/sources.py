"""From a user's raw files to the pipeline's clean tables, one function per kind of source.

transactions (one row per purchase or order line, required):
    customer_id, timestamp, order_id, product, quantity, amount, is_return, returned_order_id, source_row
    Returns and cancellations stay, with a negative amount and `is_return`, so that spend is
    net of them and return behaviour can be a feature. `order_id` is the user's order id, or
    customer and timestamp together when the data has none: lines bought together are one purchase.
    `returned_order_id` is the order a return line takes back (`match_returns`), null for purchases
    and for returns of orders older than the data (docs/definitions.md).
events (engagement log, optional):      customer_id, timestamp, event_type, value, source_row
subscriptions (billing periods, optional): customer_id, start, end, plan, price, discount, source_row
customers (one row per customer, optional): customer_id, then one column per attribute (a number where
    every value is one, else text)
campaign (a campaign that ran, optional): customer_id, arm, sent_at (if mapped), one column per outcome, source_row
surveys (survey answers, optional):     customer_id, timestamp, score (0-10, the NPS question), source_row
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.validation import Field, Parsing, Validated, validate_source

if TYPE_CHECKING:
    from pipeline.config import CampaignSource, CustomersSource, EventsSource, SubscriptionsSource, SurveysSource, TransactionsSource
    from pipeline.io import RawTable


@dataclass(frozen=True)
class Ingested:
    clean: pd.DataFrame
    quarantine: pd.DataFrame
    summary: dict


def _finish(clean: pd.DataFrame, result: Validated, order: list[str]) -> Ingested:
    clean = clean.sort_values(order, kind="stable").reset_index(drop=True)
    summary = result.summary | {"customers": int(clean["customer_id"].nunique())}
    return Ingested(clean=clean, quarantine=result.quarantine, summary=summary)


def _time_range(values: pd.Series) -> dict:
    return {"first_timestamp": str(values.min()) if len(values) else None, "last_timestamp": str(values.max()) if len(values) else None}


def clean_transactions(raw: RawTable, source: TransactionsSource, parsing: Parsing) -> Ingested:
    derived = source.amount is None  # the value is quantity * unit_price: both must be there
    rules = source.cleaning_rules()
    fields = {
        "customer_id": Field(source.customer_id, "identifier"),
        "timestamp": Field(source.timestamp, "timestamp"),
    }
    if source.amount:
        fields["amount"] = Field(source.amount, "number")
    if source.quantity:
        fields["quantity"] = Field(source.quantity, "number", required=derived)
    if source.unit_price:
        fields["unit_price"] = Field(source.unit_price, "number", required=derived, non_negative=True)
    if source.order_id:
        fields["order_id"] = Field(source.order_id, "identifier", required=False)
    if source.product:
        fields["product"] = Field(source.product, "text", required=False, excluded_values=tuple(rules.exclude_products))
    result = validate_source(raw, fields, replace(parsing, timestamp_format=source.timestamp_format), unique_rows=source.drop_duplicates)
    valid = result.valid

    missing_text = pd.Series(pd.NA, index=valid.index, dtype="string")
    quantity = valid["quantity"] if source.quantity else pd.Series(np.nan, index=valid.index)
    amount = valid["amount"] if source.amount else valid["quantity"] * valid["unit_price"]
    order = valid["order_id"] if source.order_id else missing_text
    is_return = (amount < 0) | (quantity < 0)
    if rules.cancel_prefix:
        is_return |= order.str.startswith(rules.cancel_prefix).fillna(False).astype(bool)
    order = order.fillna(valid["customer_id"] + "@" + valid["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
    sign = np.where(is_return, -1.0, 1.0)
    clean = pd.DataFrame(
        {
            "customer_id": valid["customer_id"],
            "timestamp": valid["timestamp"],
            "order_id": order,
            "product": valid["product"] if source.product else missing_text,
            "quantity": quantity.abs() * sign,
            "amount": amount.abs() * sign,
            "is_return": is_return.astype(bool),
            "source_row": valid["source_row"],
        }
    )
    clean.insert(len(clean.columns) - 1, "returned_order_id", match_returns(clean))
    ingested = _finish(clean, result, ["customer_id", "timestamp", "source_row"])
    purchases = ingested.clean[~ingested.clean["is_return"]]
    returns = ingested.clean[ingested.clean["is_return"]]
    ingested.summary.update(
        _time_range(ingested.clean["timestamp"]),
        return_rows=int(len(returns)),
        purchase_orders=int(purchases["order_id"].nunique()),
        return_orders=int(returns["order_id"].nunique()),
        gross_sales=round(float(purchases["amount"].sum()), 2),
        returns_value=round(float(-returns["amount"].sum()), 2) + 0.0,  # + 0.0: never -0.0
    )
    return ingested


def match_returns(lines: pd.DataFrame) -> pd.Series:
    """Per line, the order a return line takes back: the customer's latest order at or before the
    return that bought the same product (any product where the data names none). Null for
    purchase lines and for returns with no such order in the data.

    Matched once, at ingest: the order a return belongs to is a fact of the data, and every
    earlier order is known by the time of the return, so no cutoff sees past itself through it.
    """
    matched = pd.Series(pd.NA, index=lines.index, dtype="string")
    returns = lines[lines["is_return"]]
    if returns.empty:
        return matched
    purchases = lines[~lines["is_return"]]
    named = returns["product"].notna()
    for keys, part in ((["customer_id", "product"], returns[named]), (["customer_id"], returns[~named])):
        if part.empty:
            continue
        bought = purchases.dropna(subset=keys)[[*keys, "timestamp", "order_id"]]
        # merge_asof wants both sides sorted by time; ties keep the input order, so the result is stable.
        left = part[[*keys, "timestamp"]].reset_index().sort_values("timestamp", kind="stable")
        found = pd.merge_asof(
            left, bought.sort_values("timestamp", kind="stable").rename(columns={"order_id": "returned_order_id"}),
            on="timestamp", by=keys, direction="backward", allow_exact_matches=True,
        )
        matched.loc[found["index"].to_numpy()] = found["returned_order_id"].astype("string").to_numpy()
    return matched


def clean_events(raw: RawTable, source: EventsSource, parsing: Parsing) -> Ingested:
    fields = {
        "customer_id": Field(source.customer_id, "identifier"),
        "timestamp": Field(source.timestamp, "timestamp"),
        "event_type": Field(source.event_type, "text"),
    }
    if source.value:
        fields["value"] = Field(source.value, "number", required=False)
    result = validate_source(raw, fields, replace(parsing, timestamp_format=source.timestamp_format), unique_rows=source.drop_duplicates)
    valid = result.valid
    clean = pd.DataFrame(
        {
            "customer_id": valid["customer_id"],
            "timestamp": valid["timestamp"],
            "event_type": valid["event_type"].replace(source.event_type_names) if source.event_type_names else valid["event_type"],
            # An event without a value counts once.
            "value": valid["value"].fillna(1.0) if source.value else 1.0,
            "source_row": valid["source_row"],
        }
    )
    ingested = _finish(clean, result, ["customer_id", "timestamp", "source_row"])
    ingested.summary.update(
        _time_range(ingested.clean["timestamp"]),
        event_types={str(k): int(v) for k, v in ingested.clean["event_type"].value_counts().sort_index().items()},
    )
    return ingested


def clean_subscriptions(raw: RawTable, source: SubscriptionsSource, parsing: Parsing) -> Ingested:
    fields = {
        "customer_id": Field(source.customer_id, "identifier"),
        "start": Field(source.start, "timestamp"),
    }
    if source.end:
        fields["end"] = Field(source.end, "timestamp", required=False, not_before="start")  # no end: still running
    for name in ("plan", "price", "discount"):
        column = getattr(source, name)
        if column:
            fields[name] = Field(column, "text" if name == "plan" else "number", required=False, non_negative=name != "plan")
    result = validate_source(raw, fields, replace(parsing, timestamp_format=source.timestamp_format), unique_rows=True)
    valid = result.valid
    clean = pd.DataFrame(
        {
            "customer_id": valid["customer_id"],
            "start": valid["start"],
            "end": valid["end"] if source.end else pd.Series(pd.NaT, index=valid.index, dtype="datetime64[us]"),
            "plan": valid["plan"] if source.plan else pd.Series(pd.NA, index=valid.index, dtype="string"),
            "price": valid["price"] if source.price else np.nan,
            "discount": valid["discount"].fillna(0.0) if source.discount else 0.0,
            "source_row": valid["source_row"],
        }
    )
    ingested = _finish(clean, result, ["customer_id", "start", "source_row"])
    ingested.summary.update(_time_range(ingested.clean["start"]))
    return ingested


def clean_customers(raw: RawTable, source: CustomersSource, parsing: Parsing) -> Ingested:
    fields = {"customer_id": Field(source.customer_id, "identifier", unique=True)}
    fields |= {attribute: Field(attribute, "attribute", required=False) for attribute in source.attributes}
    result = validate_source(raw, fields, parsing)
    clean = result.valid.rename(columns={attribute: customer_attribute(attribute) for attribute in source.attributes})
    return _finish(clean, result, ["customer_id"])


def clean_campaign(raw: RawTable, source: CampaignSource, parsing: Parsing) -> Ingested:
    """One row per customer of the campaign: their arm, when it was sent if known, each outcome."""
    # A control arm called "None" is the control, not a missing value.
    fields = {"customer_id": Field(source.customer_id, "identifier", unique=True), "arm": Field(source.arm, "text", meaningful=(source.control,))}
    if source.sent_at:
        fields["sent_at"] = Field(source.sent_at, "timestamp")
    fields |= {outcome: Field(outcome, "number") for outcome in source.outcomes}
    result = validate_source(raw, fields, replace(parsing, timestamp_format=source.timestamp_format))
    ingested = _finish(result.valid, result, ["customer_id"])
    arms = ingested.clean["arm"].value_counts().sort_index()
    ingested.summary.update(arms={str(arm): int(count) for arm, count in arms.items()})
    return ingested


def clean_surveys(raw: RawTable, source: SurveysSource, parsing: Parsing) -> Ingested:
    fields = {
        "customer_id": Field(source.customer_id, "identifier"),
        "timestamp": Field(source.timestamp, "timestamp"),
        "score": Field(source.score, "number", non_negative=True, maximum=10),
    }
    result = validate_source(raw, fields, replace(parsing, timestamp_format=source.timestamp_format))
    ingested = _finish(result.valid, result, ["customer_id", "timestamp", "source_row"])
    ingested.summary.update(_time_range(ingested.clean["timestamp"]))
    return ingested


def customer_attribute(column: str) -> str:
    """The feature name of a customer attribute: a prefix keeps it apart from computed features."""
    return f"customer_{column.lower().replace(' ', '_')}"


EMPTY = {
    "events": {"customer_id": "string", "timestamp": "datetime64[us]", "event_type": "string", "value": "float64", "source_row": "int64"},
    "subscriptions": {
        "customer_id": "string", "start": "datetime64[us]", "end": "datetime64[us]", "plan": "string",
        "price": "float64", "discount": "float64", "source_row": "int64",
    },
    "customers": {"customer_id": "string", "source_row": "int64"},
    "surveys": {"customer_id": "string", "timestamp": "datetime64[us]", "score": "float64", "source_row": "int64"},
}


def empty_table(kind: str) -> pd.DataFrame:
    """The clean table of an optional source a business does not have."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in EMPTY[kind].items()})
