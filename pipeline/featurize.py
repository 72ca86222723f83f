"""Stage `features`: training snapshots at past cutoffs, and the scoring snapshot at `as_of`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis

from features.snapshots import Sources, default_as_of, snapshot, training_cutoffs, training_snapshots
from pipeline import config, io


def connect(params: config.FeaturesParams) -> ibis.BaseBackend:
    # The memory limit makes DuckDB spill to disk rather than fail on data larger than memory.
    return ibis.duckdb.connect(memory_limit=params.memory_limit, threads=params.threads)


def resolve_as_of(params: config.ScoreParams, last_transaction: dt.datetime) -> dt.datetime:
    if params.as_of is None:
        return default_as_of(last_transaction)
    return dt.datetime.combine(params.as_of, dt.time())


def _write(expr: ibis.Table, target: Path) -> None:
    with io.atomic_path(target) as tmp:
        expr.to_parquet(tmp)


def load_sources(con: ibis.BaseBackend) -> Sources:
    """The clean tables, with the optional ones that hold no rows left out."""
    def optional(path: Path) -> ibis.Table | None:
        table = con.read_parquet(path)
        return table if table.count().to_pandas() > 0 else None

    events = optional(config.CLEAN_EVENTS)
    event_types = () if events is None else tuple(sorted(events.select("event_type").distinct().to_pandas()["event_type"]))
    return Sources(
        transactions=con.read_parquet(config.CLEAN_TRANSACTIONS),
        events=events,
        subscriptions=optional(config.CLEAN_SUBSCRIPTIONS),
        customers=optional(config.CLEAN_CUSTOMERS),
        event_types=event_types,
    )


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
    _write(training_snapshots(sources, cutoffs, windows, params.score.horizon_days), config.TRAINING_SNAPSHOTS)
    _write(snapshot(sources, as_of, windows), config.SCORING_SNAPSHOT)

    per_cutoff = (
        con.read_parquet(config.TRAINING_SNAPSHOTS)
        .group_by("cutoff")
        .aggregate(customers=ibis._.count(), churn_rate=ibis._.churned.mean())
        .order_by("cutoff")
        .to_pandas()
    )
    metrics = {
        "as_of": as_of.date().isoformat(),
        "horizon_days": params.score.horizon_days,
        "scoring_customers": int(con.read_parquet(config.SCORING_SNAPSHOT).count().to_pandas()),
        "training_rows": int(per_cutoff["customers"].sum()),
        "cutoffs": {
            row.cutoff.date().isoformat(): {"customers": int(row.customers), "churn_rate": round(float(row.churn_rate), 4)}
            for row in per_cutoff.itertuples()
        },
        "event_types": list(sources.event_types),
        "population": "subscribed at the cutoff" if sources.subscriptions is not None else "bought before the cutoff",
    }
    io.write_json(metrics, config.FEATURES_METRICS)
    return metrics
