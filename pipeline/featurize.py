"""Stage `features`: training snapshots at past cutoffs, and the scoring snapshot at `as_of`."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import ibis
import pandas as pd
import pyarrow.parquet as pq

from features.snapshots import Sources, default_as_of, snapshot, training_cutoffs, training_snapshots
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


def scoring_snapshot(params: config.Params, as_of: dt.datetime) -> pd.DataFrame:
    """The snapshot at `as_of` from the clean tables: for scoring on a date of one's choosing."""
    con = connect(params.features)
    return con.to_pandas(snapshot(load_sources(con), as_of, params.features.windows_days))


def sources_in_memory(data: config.DataParams, threads: int = 2) -> Sources:
    """Ingest a `data` section straight into an in-memory DuckDB: for benchmarks and notebooks."""
    from pipeline.ingest import ingest_source

    con = ibis.duckdb.connect(threads=threads)
    tables = {}
    for name in ("transactions", "events", "subscriptions", "customers"):
        source = getattr(data, name)
        if source is not None:
            tables[name] = con.create_table(name, ingest_source(name, source).clean)
    return Sources.reading_event_types(**tables)


def run(params: config.Params) -> dict:
    con = connect(params.features)
    sources = load_sources(con)
    transactions = sources.transactions
    first, last = (transactions.timestamp.min().to_pandas(), transactions.timestamp.max().to_pandas())
    as_of = resolve_as_of(params.score, last.to_pydatetime())
    cutoffs = training_cutoffs(
        as_of, params.score.horizon_days, params.features.training_cutoffs, params.features.cutoff_spacing_days
    )
    if cutoffs[0] <= first:
        raise config.ConfigError(
            f"the earliest training cutoff {cutoffs[0]:%Y-%m-%d} is not after the first transaction {first:%Y-%m-%d}: "
            "use fewer or closer cutoffs (features.training_cutoffs, features.cutoff_spacing_days) or a later score.as_of"
        )
    windows = params.features.windows_days
    write_table(con, training_snapshots(sources, cutoffs, windows, params.score.horizon_days), config.TRAINING_SNAPSHOTS)
    write_table(con, snapshot(sources, as_of, windows), config.SCORING_SNAPSHOT)

    labels = pd.read_parquet(config.TRAINING_SNAPSHOTS, columns=["cutoff", "churned"])
    per_cutoff = labels.groupby("cutoff")["churned"].agg(customers="size", churn_rate="mean").reset_index()
    metrics = {
        "as_of": as_of.date().isoformat(),
        "horizon_days": params.score.horizon_days,
        "scoring_customers": pq.read_metadata(config.SCORING_SNAPSHOT).num_rows,
        "training_rows": int(per_cutoff["customers"].sum()),
        "cutoffs": {
            pd.Timestamp(row.cutoff).date().isoformat(): {"customers": int(row.customers), "churn_rate": round(float(row.churn_rate), 4)}
            for row in per_cutoff.itertuples()
        },
        "event_types": list(sources.event_types),
        "population": "subscribed at the cutoff" if sources.subscriptions is not None else "bought before the cutoff",
    }
    io.write_json(metrics, config.FEATURES_METRICS)
    return metrics
