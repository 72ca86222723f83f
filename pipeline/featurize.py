"""Stage `features`: training snapshots at past cutoffs, and the scoring snapshot at `as_of`."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import ibis
import pandas as pd
import pyarrow.parquet as pq

from features.snapshots import Sources, default_as_of, lapsed_customers, snapshot, training_cutoffs, training_snapshots, with_history
from pipeline import config, io


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
    with io.atomic_path(target) as tmp:
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


def sources_in_memory(data: config.DataParams, threads: int = 2) -> Sources:
    """Ingest a `data` section straight into an in-memory DuckDB: for benchmarks and notebooks."""
    from pipeline.ingest import ingest_source

    con = ibis.duckdb.connect(threads=threads)
    tables = {}
    for name in ("transactions", "events", "subscriptions", "customers"):
        source = getattr(data, name)
        if source is not None:
            tables[name] = con.create_table(name, ingest_source(name, source, data.parse).clean)
    return Sources.reading_event_types(**tables)


def run(params: config.Params) -> dict:
    con = connect(params.features)
    sources = load_sources(con)
    transactions = sources.transactions
    first, last = (transactions.timestamp.min().to_pandas(), transactions.timestamp.max().to_pandas())
    as_of = resolve_as_of(params.score, last.to_pydatetime())
    planned = training_cutoffs(
        as_of, params.score.horizon_days, params.features.training_cutoffs, params.features.cutoff_spacing_days
    )
    min_history = params.features.min_history_days
    cutoffs, skipped = with_history(planned, first.to_pydatetime(), min_history)
    if len(cutoffs) < 2:
        raise config.ConfigError(
            f"{len(cutoffs)} of the {len(planned)} training cutoffs have {min_history} days of history before them "
            f"(the data begins {first:%Y-%m-%d}; the latest cutoff is {planned[-1]:%Y-%m-%d}, score.horizon_days before as_of "
            f"{as_of:%Y-%m-%d}): at least 2 are needed, so the data must begin by "
            f"{planned[-1] - dt.timedelta(days=min_history + params.features.cutoff_spacing_days):%Y-%m-%d}. "
            "Lower features.min_history_days or features.cutoff_spacing_days, or give more history"
        )
    windows, active_days = params.features.windows_days, params.features.active_days
    write_table(con, training_snapshots(sources, cutoffs, windows, params.score.horizon_days, active_days), config.TRAINING_SNAPSHOTS)
    write_table(con, snapshot(sources, as_of, windows, active_days=active_days), config.SCORING_SNAPSHOT)
    write_table(con, lapsed_customers(sources, as_of, windows, active_days), config.LAPSED_SNAPSHOT)

    labels = pd.read_parquet(config.TRAINING_SNAPSHOTS, columns=["cutoff", "churned"])
    per_cutoff = labels.groupby("cutoff")["churned"].agg(customers="size", churn_rate="mean").reset_index()
    metrics = {
        "as_of": as_of.date().isoformat(),
        "horizon_days": params.score.horizon_days,
        "scoring_customers": pq.read_metadata(config.SCORING_SNAPSHOT).num_rows,
        "lapsed_customers": pq.read_metadata(config.LAPSED_SNAPSHOT).num_rows,
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
    io.write_json(metrics, config.FEATURES_METRICS)
    return metrics
