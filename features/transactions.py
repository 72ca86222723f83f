"""From a user's raw files to the pipeline's clean transaction and event tables.

Clean transactions (one row per line item):
    customer_id, timestamp, order_id, product, quantity, amount, is_return, source_row
Returns and cancellations stay in the table with a negative amount and `is_return`, so that
spend is net of them and return behaviour can become a feature. `order_id` is the user's
order id, or customer and timestamp together when the data has none: lines bought together
are one purchase.

Clean events (one row per engagement event):
    customer_id, timestamp, event_type, value, source_row
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.engines import pandas_engine

from features.validation import primary_reason, validate_rows

if TYPE_CHECKING:
    from pipeline.config import EventsSource, TransactionsSource


@dataclass(frozen=True)
class Ingested:
    clean: pd.DataFrame
    quarantine: pd.DataFrame
    summary: dict


def _text(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Trim the mapped text columns; a cell of blanks is a missing value."""
    frame = frame.copy()
    for column in dict.fromkeys(columns):
        frame[column] = frame[column].str.strip().replace("", pd.NA)
    return frame


def _timestamp_column(timestamp_format: str | None) -> pa.Column:
    kwargs = {"format": timestamp_format} if timestamp_format else {"format": "ISO8601"}
    return pa.Column(pandas_engine.DateTime(to_datetime_kwargs=kwargs), coerce=True, nullable=False)


def _number_column(*checks: pa.Check, nullable: bool = False) -> pa.Column:
    return pa.Column("float64", checks=list(checks), coerce=True, nullable=nullable)


def _summary(raw: pd.DataFrame, clean: pd.DataFrame, quarantine: pd.DataFrame) -> dict:
    by_reason = primary_reason(quarantine["reason"]).value_counts().sort_index()
    return {
        "rows_in": int(len(raw)),
        "rows_clean": int(len(clean)),
        "rows_quarantined": int(len(quarantine)),
        "quarantined_by_reason": {str(reason): int(count) for reason, count in by_reason.items()},
        "customers": int(clean["customer_id"].nunique()),
        "first_timestamp": str(clean["timestamp"].min()) if len(clean) else None,
        "last_timestamp": str(clean["timestamp"].max()) if len(clean) else None,
    }


def clean_transactions(raw: pd.DataFrame, source: TransactionsSource, source_file: str) -> Ingested:
    mapped = source.mapped_columns
    concepts = {column: concept for concept, column in mapped.items()}
    raw = _text(raw, list(mapped.values()))
    columns = {
        mapped["customer_id"]: pa.Column("string", nullable=False),
        mapped["timestamp"]: _timestamp_column(source.timestamp_format),
    }
    if source.amount:
        columns[source.amount] = _number_column()
    if source.quantity:
        columns[source.quantity] = _number_column(nullable=source.amount is not None)
    if source.unit_price:
        columns[source.unit_price] = _number_column(pa.Check.ge(0), nullable=source.amount is not None)
    if source.order_id:
        columns[source.order_id] = pa.Column("string", nullable=True)
    if source.product:
        checks = [pa.Check.notin(source.exclude_products)] if source.exclude_products else []
        columns[source.product] = pa.Column("string", checks=checks, nullable=True)

    result = validate_rows(raw, columns, concepts, source_file=source_file, unique_rows=source.drop_duplicates)
    valid = result.valid

    if source.amount:
        amount = valid[source.amount].astype("float64")
    else:
        amount = valid[source.quantity].astype("float64") * valid[source.unit_price].astype("float64")
    quantity = valid[source.quantity].astype("float64") if source.quantity else pd.Series(np.nan, index=valid.index)
    customer = valid[mapped["customer_id"]].astype("string")
    timestamp = valid[mapped["timestamp"]].astype("datetime64[us]")

    is_return = (amount < 0) | (quantity < 0)
    order = valid[source.order_id].astype("string") if source.order_id else pd.Series(pd.NA, index=valid.index, dtype="string")
    if source.cancel_prefix:
        is_return |= order.str.startswith(source.cancel_prefix).fillna(False).astype(bool)
    # Without an order id, everything a customer bought at one moment is one purchase.
    order = order.fillna(customer + "@" + timestamp.dt.strftime("%Y-%m-%dT%H:%M:%S"))

    clean = pd.DataFrame(
        {
            "customer_id": customer,
            "timestamp": timestamp,
            "order_id": order,
            "product": valid[source.product].astype("string") if source.product else pd.Series(pd.NA, index=valid.index, dtype="string"),
            "quantity": quantity.abs().where(~is_return, -quantity.abs()),
            "amount": amount.abs().where(~is_return, -amount.abs()),
            "is_return": is_return.astype(bool),
            "source_row": valid.index.to_numpy(dtype="int64") + 1,
        }
    )
    clean = clean.sort_values(["customer_id", "timestamp", "source_row"], kind="stable").reset_index(drop=True)

    summary = _summary(raw, clean, result.quarantine)
    purchases = clean[~clean["is_return"]]
    summary |= {
        "return_rows": int(clean["is_return"].sum()),
        "purchase_orders": int(purchases["order_id"].nunique()),
        "return_orders": int(clean.loc[clean["is_return"], "order_id"].nunique()),
        "gross_sales": round(float(purchases["amount"].sum()), 2),
        "returns_value": round(float(-clean.loc[clean["is_return"], "amount"].sum()), 2) + 0.0,  # never -0.0
    }
    return Ingested(clean=clean, quarantine=result.quarantine, summary=summary)


def clean_events(raw: pd.DataFrame, source: EventsSource, source_file: str) -> Ingested:
    mapped = source.mapped_columns
    concepts = {column: concept for concept, column in mapped.items()}
    raw = _text(raw, list(mapped.values()))
    columns = {
        source.customer_id: pa.Column("string", nullable=False),
        source.timestamp: _timestamp_column(source.timestamp_format),
        source.event_type: pa.Column("string", nullable=False),
    }
    if source.value:
        columns[source.value] = _number_column(nullable=True)

    result = validate_rows(raw, columns, concepts, source_file=source_file, unique_rows=source.drop_duplicates)
    valid = result.valid
    event_type = valid[source.event_type].astype("string")
    clean = pd.DataFrame(
        {
            "customer_id": valid[source.customer_id].astype("string"),
            "timestamp": valid[source.timestamp].astype("datetime64[us]"),
            "event_type": event_type.replace(source.event_type_names) if source.event_type_names else event_type,
            # An event without a value counts once.
            "value": valid[source.value].astype("float64").fillna(1.0) if source.value else 1.0,
            "source_row": valid.index.to_numpy(dtype="int64") + 1,
        }
    )
    clean = clean.sort_values(["customer_id", "timestamp", "source_row"], kind="stable").reset_index(drop=True)
    summary = _summary(raw, clean, result.quarantine)
    summary["event_types"] = {str(k): int(v) for k, v in clean["event_type"].value_counts().sort_index().items()}
    return Ingested(clean=clean, quarantine=result.quarantine, summary=summary)


def empty_events() -> pd.DataFrame:
    """The clean events table of a business without an events log."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype="string"),
            "timestamp": pd.Series(dtype="datetime64[us]"),
            "event_type": pd.Series(dtype="string"),
            "value": pd.Series(dtype="float64"),
            "source_row": pd.Series(dtype="int64"),
        }
    )
