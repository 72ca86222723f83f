"""From a user's raw files to the pipeline's clean tables, one function per kind of source.

transactions (one row per purchase or order line, required):
    customer_id, timestamp, order_id, product, quantity, amount, is_return, returned_order_id, source_row
    Returns and cancellations stay, with a negative amount and `is_return`, so that spend is
    net of them and return behaviour can be a feature. `order_id` is the user's order id, or
    customer and timestamp together when the data has none: lines bought together are one purchase.
    `returned_order_id` is the order a return line takes back (`TRANSACTION_LINES`), null for purchases
    and for returns of orders older than the data (docs/definitions.md).
events (engagement log, optional):      customer_id, timestamp, event_type, value, source_row
subscriptions (billing periods, optional): customer_id, start, end, plan, price, discount, source_row
customers (one row per customer, optional): customer_id, then one column per attribute (a number where
    every value is one, else text)
campaign (a campaign that ran, optional): customer_id, arm, sent_at (if mapped), one column per outcome, source_row
surveys (survey answers, optional):     customer_id, timestamp, score (0-10, the NPS question), source_row

A file is cleaned in batches (`clean_batch`: each row cast and checked on its own, duplicates
against the file's earlier batches), then finished as a whole by DuckDB (`FINISH`: the table's
order, and for transactions the order each return takes back), so that a file of any length
is cleaned within a fixed memory. `clean_source` does both for a table in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from features.validation import Field, Parsing, Seen, validate_source

if TYPE_CHECKING:
    from pipeline.config import CampaignSource, CustomersSource, EventsSource, SubscriptionsSource, SurveysSource, TransactionsSource
    from pipeline.files import RawTable


@dataclass(frozen=True)
class Ingested:
    clean: pd.DataFrame
    quarantine: pd.DataFrame
    summary: dict


def _transaction_fields(source: TransactionsSource) -> dict[str, Field]:
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
    return fields


def _transaction_lines(valid: pd.DataFrame, source: TransactionsSource) -> pd.DataFrame:
    missing_text = pd.Series(pd.NA, index=valid.index, dtype="string")
    quantity = valid["quantity"] if source.quantity else pd.Series(np.nan, index=valid.index)
    amount = valid["amount"] if source.amount else valid["quantity"] * valid["unit_price"]
    order = valid["order_id"] if source.order_id else missing_text
    is_return = (amount < 0) | (quantity < 0)
    cancel_prefix = source.cleaning_rules().cancel_prefix
    if cancel_prefix:
        is_return |= order.str.startswith(cancel_prefix).fillna(False).astype(bool)
    unnamed = order.isna()
    if unnamed.any():
        order = order.copy()
        order[unnamed] = valid["customer_id"][unnamed] + "@" + valid["timestamp"][unnamed].dt.strftime("%Y-%m-%dT%H:%M:%S")
    sign = np.where(is_return, -1.0, 1.0)
    return pd.DataFrame(
        {
            "customer_id": valid["customer_id"],
            "timestamp": valid["timestamp"],
            "order_id": order,
            "product": valid["product"] if source.product else missing_text,
            "quantity": quantity.abs() * sign,
            "amount": amount.abs() * sign,
            "is_return": is_return.astype(bool),
            "returned_order_id": missing_text,  # matched over the whole file (TRANSACTION_LINES)
            "source_row": valid["source_row"],
        }
    )


TRANSACTION_LINES = """
-- An order id names one order: a customer's lines of one id more than a day after the line before
-- them are a later order that reuses the id, and are named `<id>#2`, `<id>#3`, ...
WITH numbered AS (
    SELECT *, sum(CASE WHEN gap > INTERVAL 1 DAY THEN 1 ELSE 0 END)
              OVER (PARTITION BY customer_id, order_id ORDER BY timestamp, source_row) AS reuse
    FROM (SELECT *, timestamp - lag(timestamp) OVER (PARTITION BY customer_id, order_id ORDER BY timestamp, source_row) AS gap FROM lines)
), split AS (
    SELECT * EXCLUDE (gap, reuse) REPLACE (CASE WHEN reuse = 0 THEN order_id ELSE order_id || '#' || CAST(reuse + 1 AS VARCHAR) END AS order_id)
    FROM numbered
),
-- Per line, the order a return line takes back: the customer's latest order at or before the
-- return that bought the same product (any product where the data names none); among orders at
-- one moment, the one of the latest line. Null for purchases and for returns with no such order.
-- Matched once, at ingest: the order a return belongs to is a fact of the data, and every earlier
-- order is known by the time of the return, so no cutoff sees past itself through it.
bought AS (
    SELECT customer_id, product, timestamp, arg_max(order_id, source_row) AS order_id
    FROM split WHERE NOT is_return AND product IS NOT NULL GROUP BY ALL
), bought_anything AS (
    SELECT customer_id, timestamp, arg_max(order_id, source_row) AS order_id
    FROM split WHERE NOT is_return GROUP BY ALL
), matched AS (
    SELECT r.source_row, b.order_id FROM (SELECT * FROM split WHERE is_return AND product IS NOT NULL) r
    ASOF JOIN bought b ON r.customer_id = b.customer_id AND r.product = b.product AND r.timestamp >= b.timestamp
    UNION ALL
    SELECT r.source_row, b.order_id FROM (SELECT * FROM split WHERE is_return AND product IS NULL) r
    ASOF JOIN bought_anything b ON r.customer_id = b.customer_id AND r.timestamp >= b.timestamp
)
SELECT split.* REPLACE (matched.order_id AS returned_order_id) FROM split LEFT JOIN matched USING (source_row)
"""


def transaction_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """`TRANSACTION_LINES` for lines in memory (tests, notebooks): reused order ids split and each
    return's order matched, the rows in their given order."""
    table = lines.assign(returned_order_id=pd.Series(pd.NA, index=lines.index, dtype="string"), source_row=np.arange(len(lines)))
    with duckdb.connect() as con:
        con.register("lines", pa.Table.from_pandas(table, preserve_index=False))
        finished = con.execute(f"SELECT order_id, returned_order_id FROM ({TRANSACTION_LINES}) ORDER BY source_row").fetchall()
    return lines.assign(order_id=pd.Series([order for order, _ in finished], index=lines.index, dtype="string"),
                        returned_order_id=pd.Series([returned for _, returned in finished], index=lines.index, dtype="string"))


def _time_range(con: duckdb.DuckDBPyConnection, column: str) -> dict:
    first, last = con.execute(f"SELECT min({column}), max({column}) FROM clean").fetchone()
    return {"first_timestamp": None if first is None else str(pd.Timestamp(first)),
            "last_timestamp": None if last is None else str(pd.Timestamp(last))}


def _counts(con: duckdb.DuckDBPyConnection, column: str) -> dict:
    rows = con.execute(f"SELECT {column}, count(*) FROM clean GROUP BY ALL ORDER BY {column}").fetchall()
    return {str(value): int(count) for value, count in rows}


def _transaction_summary(con: duckdb.DuckDBPyConnection) -> dict:
    return_rows, purchase_orders, return_orders, gross, returned = con.execute("""
        SELECT count(*) FILTER (is_return), count(DISTINCT order_id) FILTER (NOT is_return), count(DISTINCT order_id) FILTER (is_return),
               coalesce(sum(amount) FILTER (NOT is_return), 0), coalesce(sum(amount) FILTER (is_return), 0)
        FROM clean""").fetchone()
    return _time_range(con, "timestamp") | {
        "return_rows": int(return_rows), "purchase_orders": int(purchase_orders), "return_orders": int(return_orders),
        "gross_sales": round(float(gross), 2), "returns_value": round(float(-returned), 2) + 0.0,  # + 0.0: never -0.0
    }


def _event_fields(source: EventsSource) -> dict[str, Field]:
    fields = {
        "customer_id": Field(source.customer_id, "identifier"),
        "timestamp": Field(source.timestamp, "timestamp"),
        "event_type": Field(source.event_type, "text"),
    }
    if source.value:
        fields["value"] = Field(source.value, "number", required=False)
    return fields


def _event_rows(valid: pd.DataFrame, source: EventsSource) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": valid["customer_id"],
            "timestamp": valid["timestamp"],
            "event_type": valid["event_type"].replace(source.event_type_names) if source.event_type_names else valid["event_type"],
            # An event without a value counts once.
            "value": valid["value"].fillna(1.0) if source.value else 1.0,
            "source_row": valid["source_row"],
        }
    )


def _subscription_fields(source: SubscriptionsSource) -> dict[str, Field]:
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
    return fields


def _subscription_rows(valid: pd.DataFrame, source: SubscriptionsSource) -> pd.DataFrame:
    return pd.DataFrame(
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


def _customer_fields(source: CustomersSource) -> dict[str, Field]:
    fields = {"customer_id": Field(source.customer_id, "identifier", unique=True)}
    return fields | {attribute: Field(attribute, "attribute", required=False) for attribute in source.attributes}


def _campaign_fields(source: CampaignSource) -> dict[str, Field]:
    """One row per customer of the campaign: their arm, when it was sent if known, each outcome."""
    # A control arm called "None" is the control, not a missing value.
    fields = {"customer_id": Field(source.customer_id, "identifier", unique=True), "arm": Field(source.arm, "text", meaningful=(source.control,))}
    if source.sent_at:
        fields["sent_at"] = Field(source.sent_at, "timestamp")
    return fields | {outcome: Field(outcome, "number") for outcome in source.outcomes}


def _survey_fields(source: SurveysSource) -> dict[str, Field]:
    return {
        "customer_id": Field(source.customer_id, "identifier"),
        "timestamp": Field(source.timestamp, "timestamp"),
        "score": Field(source.score, "number", non_negative=True, maximum=10),
    }


@dataclass(frozen=True)
class Kind:
    """How one kind of source becomes its clean table."""

    fields: Callable[[Any], dict[str, Field]]
    order: tuple[str, ...]
    rows: Callable[[pd.DataFrame, Any], pd.DataFrame] = lambda valid, source: valid
    """validated rows -> the clean table's rows, one by one"""
    unique_rows: Callable[[Any], bool] = lambda source: False
    summary: Callable[[duckdb.DuckDBPyConnection], dict] = lambda con: {}
    """figures over the finished table, `clean`"""
    lines: str = "lines"
    """SQL over `lines` (every batch's rows): what needs the whole file"""
    whole_file: bool = False
    """Read in one batch: an attribute is a number only if every value in the file is one."""


KINDS = {
    "transactions": Kind(_transaction_fields, ("customer_id", "timestamp", "source_row"), _transaction_lines,
                         lambda source: source.drop_duplicates, _transaction_summary, f"({TRANSACTION_LINES})"),
    "events": Kind(_event_fields, ("customer_id", "timestamp", "source_row"), _event_rows, lambda source: source.drop_duplicates,
                   lambda con: _time_range(con, "timestamp") | {"event_types": _counts(con, "event_type")}),
    "subscriptions": Kind(_subscription_fields, ("customer_id", "start", "source_row"), _subscription_rows, lambda source: True,
                          lambda con: _time_range(con, "start")),
    "customers": Kind(_customer_fields, ("customer_id",), lambda valid, source: valid.rename(
        columns={attribute: customer_attribute(attribute) for attribute in source.attributes}), whole_file=True),
    "campaign": Kind(_campaign_fields, ("customer_id",), summary=lambda con: {"arms": _counts(con, "arm")}, whole_file=True),
    "surveys": Kind(_survey_fields, ("customer_id", "timestamp", "source_row"), summary=lambda con: _time_range(con, "timestamp")),
}


def clean_batch(kind: str, raw: RawTable, source: Any, parsing: Parsing, seen: Seen) -> Ingested:
    """One batch of a file's rows: its clean rows (in file order) and its quarantined ones, and their counts."""
    spec = KINDS[kind]
    parsing = replace(parsing, timestamp_format=getattr(source, "timestamp_format", None))
    result = validate_source(raw, spec.fields(source), parsing, spec.unique_rows(source), seen)
    return Ingested(spec.rows(result.valid, source).reset_index(drop=True), result.quarantine, result.summary)


def finish_sql(kind: str) -> str:
    """SQL over `lines`, every batch's clean rows: the clean table, in its order."""
    spec = KINDS[kind]
    return f"SELECT * FROM {spec.lines} ORDER BY {', '.join(spec.order)}"


def summarise(kind: str, con: duckdb.DuckDBPyConnection, counts: dict) -> dict:
    """The source's summary: `counts` (rows in, clean, quarantined by reason) and figures over `clean`."""
    (customers,) = con.execute("SELECT count(DISTINCT customer_id) FROM clean").fetchone()
    return counts | {"customers": int(customers)} | KINDS[kind].summary(con)


def add_counts(total: dict, batch: dict) -> dict:
    """Two batches' row counts as one."""
    if not total:
        return batch
    reasons = dict(total["quarantined_by_reason"])
    for reason, count in batch["quarantined_by_reason"].items():
        reasons[reason] = reasons.get(reason, 0) + count
    added = {key: total[key] + batch[key] for key in ("rows_in", "rows_clean", "rows_quarantined")}
    return added | {"quarantined_by_reason": dict(sorted(reasons.items()))}


def clean_source(kind: str, raw: RawTable, source: Any, parsing: Parsing) -> Ingested:
    """A whole file in memory, cleaned: as ingest cleans a file in batches, in one."""
    part = clean_batch(kind, raw, source, parsing, Seen())
    schema = pa.Schema.from_pandas(part.clean, preserve_index=False)
    with duckdb.connect() as con:
        con.register("lines", pa.Table.from_pandas(part.clean, schema=schema, preserve_index=False))
        con.sql(finish_sql(kind)).to_table("clean")
        clean = con.sql("SELECT * FROM clean").to_arrow_table().cast(schema).to_pandas()
        summary = summarise(kind, con, part.summary)
    return Ingested(clean=clean, quarantine=part.quarantine, summary=summary)


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
