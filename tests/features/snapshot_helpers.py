"""Snapshots computed by DuckDB from small frames, for known-answer and property tests."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from features.snapshots import Sources, snapshot
from features.sources import transaction_lines

CUTOFF = dt.datetime(2021, 1, 31)
WINDOWS = [15, 30]


def transactions_frame(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "order_id", "product", "quantity", "amount", "is_return"])
    frame = frame.astype({"customer_id": "string", "order_id": "string", "product": "string", "quantity": "float64", "amount": "float64"})
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).astype("datetime64[us]")
    frame = transaction_lines(frame)
    frame["source_row"] = range(1, len(frame) + 1)
    return frame


def in_duckdb(transactions, events=None, subscriptions=None, customers=None) -> Sources:
    con = ibis.duckdb.connect()
    table = {name: None if frame is None else con.create_table(name, frame)
             for name, frame in [("events", events), ("subscriptions", subscriptions), ("customers", customers)]}
    return Sources.reading_event_types(con.create_table("transactions", transactions), **table)


def compute_snapshot(transactions, events=None, horizon_days: int | None = 30, cutoff=CUTOFF, subscriptions=None, customers=None, active_days=None):
    sources = in_duckdb(transactions, events, subscriptions, customers)
    table = snapshot(sources, cutoff, WINDOWS, horizon_days, active_days)
    return table.to_pandas().set_index("customer_id")
