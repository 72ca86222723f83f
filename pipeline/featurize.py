"""Stage `features`: training snapshots at past cutoffs, and the scoring snapshot at `as_of`."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import ibis
import pandas as pd
import pyarrow.parquet as pq

from features.snapshots import (
    Sources, default_as_of, earliest_start, lapsed_customers, snapshot, training_cutoffs, training_snapshots, with_history,
)
from pipeline import config, files


def connect(params: config.FeaturesParams) -> ibis.BaseBackend:
    if params.engine == "spark":
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from pyspark.sql import SparkSession  # the optional `spark` extra

        session = (
            SparkSession.builder.master(params.spark_master).appName("churn-features")
            .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        return ibis.pyspark.connect(session)
    # The memory limit makes DuckDB spill to disk rather than fail on data larger than memory.
    return ibis.duckdb.connect(memory_limit=params.memory_limit, threads=params.threads)


def write_table(con: ibis.BaseBackend, expr: ibis.Table, target: Path) -> None:
    """Write one Parquet file atomically. Spark writes a folder of part files, so its rows
    (one per customer: they fit in memory) are collected and written here instead."""
    with files.atomic_path(target) as tmp:
        if con.name == "duckdb":
            expr.to_parquet(tmp)
        else:
            pq.write_table(con.to_pyarrow(expr), tmp)


def resolve_as_of(params: config.ScoreParams, last_transaction: dt.datetime) -> dt.datetime:
    if params.as_of is None:
        return default_as_of(last_transaction)
    return dt.datetime.combine(params.as_of, dt.time())


def load_sources(con: ibis.BaseBackend) -> Sources:
    """The clean tables, with the optional ones that hold no rows left out."""
    def optional(path: Path) -> ibis.Table | None:
        table = con.read_parquet(path)
        return table if table.count().to_pandas() > 0 else None

    return Sources.reading_event_types(
        transactions=con.read_parquet(config.CLEAN_TRANSACTIONS),
        events=optional(config.CLEAN_EVENTS),
        subscriptions=optional(config.CLEAN_SUBSCRIPTIONS),
        customers=optional(config.CLEAN_CUSTOMERS),
    )


def scoring_snapshot(params: config.Params, as_of: dt.datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The snapshot at `as_of` from the clean tables, and its lapsed customers: for scoring on a date of one's choosing."""
    con = connect(params.features)
    sources, windows, active_days = load_sources(con), params.features.windows_days, params.features.active_days
    return con.to_pandas(snapshot(sources, as_of, windows, active_days=active_days)), con.to_pandas(lapsed_customers(sources, as_of, windows, active_days))


def check_as_of(as_of: dt.datetime, first: dt.datetime, last: dt.datetime, horizon_days: int, path: str) -> None:
    """as_of must lie within the data's reach: after its first day, at most a horizon after its last."""
    if as_of <= first:
        raise config.ConfigError(f"score.as_of {as_of:%Y-%m-%d} is not after the first transaction of {path} ({first:%Y-%m-%d})")
    if as_of > last + dt.timedelta(days=horizon_days):
        raise config.ConfigError(
            f"score.as_of {as_of:%Y-%m-%d} is {(as_of - last).days} days after the last transaction of {path} ({last:%Y-%m-%d}), "
            f"more than a horizon (score.horizon_days {horizon_days}): every customer would look lapsed. Set score.as_of to null "
            "(the day after the data ends) or give newer data"
        )


def run(params: config.Params) -> dict:
    con = connect(params.features)
    sources = load_sources(con)
    transactions = sources.transactions
    first, last = (transactions.timestamp.min().to_pandas(), transactions.timestamp.max().to_pandas())
    as_of = resolve_as_of(params.score, last.to_pydatetime())
    horizon, spacing, min_history = params.score.horizon_days, params.features.cutoff_spacing_days, params.features.min_history_days
    check_as_of(as_of, first.to_pydatetime(), last.to_pydatetime(), horizon, params.data.required_transactions().path)
    planned = training_cutoffs(as_of, horizon, params.features.training_cutoffs, spacing)
    cutoffs, skipped = with_history(planned, first.to_pydatetime(), min_history)
    needed_start = earliest_start(as_of, horizon, spacing, min_history)
    if first.to_pydatetime() > needed_start:
        raise config.ConfigError(
            f"{params.data.transactions.path}: the data begins {first:%Y-%m-%d}, {(as_of - first.to_pydatetime()).days} days before as_of "
            f"{as_of:%Y-%m-%d}; it must begin by {needed_start:%Y-%m-%d}: two horizons (score.horizon_days {horizon}) on the "
            f"{spacing}-day grid of cutoffs (features.cutoff_spacing_days) plus features.min_history_days ({min_history}) "
            "for one backtest fold (docs/your_data.md)"
        )
    windows, active_days = params.features.windows_days, params.features.active_days
    with files.publishing("features") as publication:
        training_path, scoring_path, lapsed_path = (
            publication.staged(target) for target in (config.TRAINING_SNAPSHOTS, config.SCORING_SNAPSHOT, config.LAPSED_SNAPSHOT)
        )
        write_table(con, training_snapshots(sources, cutoffs, windows, params.score.horizon_days, active_days), training_path)
        write_table(con, snapshot(sources, as_of, windows, active_days=active_days), scoring_path)
        write_table(con, lapsed_customers(sources, as_of, windows, active_days), lapsed_path)

        labels = pd.read_parquet(training_path, columns=["cutoff", "churned"])
        per_cutoff = labels.groupby("cutoff")["churned"].agg(customers="size", churn_rate="mean").reset_index()
        metrics = {
            "as_of": as_of.date().isoformat(),
            "horizon_days": params.score.horizon_days,
            "scoring_customers": pq.read_metadata(scoring_path).num_rows,
            "lapsed_customers": pq.read_metadata(lapsed_path).num_rows,
            "training_rows": int(per_cutoff["customers"].sum()),
            "cutoffs": {
                pd.Timestamp(row.cutoff).date().isoformat(): {"customers": int(row.customers), "churn_rate": round(float(row.churn_rate), 4)}
                for row in per_cutoff.itertuples()
            },
            "skipped_cutoffs": {
                f"{cutoff:%Y-%m-%d}": f"{(cutoff - first.to_pydatetime()).days} days of history, fewer than features.min_history_days" for cutoff in skipped
            },
            "event_types": list(sources.event_types),
            "population": "subscribed at the cutoff" if sources.subscriptions is not None else f"bought in the {active_days} days before the cutoff",
        }
        files.write_json(metrics, publication.staged(config.FEATURES_METRICS))
    return metrics
