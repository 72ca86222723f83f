"""For notebooks, benchmarks and tests: the pipeline's steps on data in memory, without its files."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import pandas as pd

from features.snapshots import Sources, snapshot, training_cutoffs, training_snapshots
from pipeline import config
from pipeline.ingest import read_source


def sources_in_memory(data: config.DataParams, threads: int = 2) -> Sources:
    """Ingest a `data` section straight into an in-memory DuckDB: for benchmarks and notebooks."""
    con = ibis.duckdb.connect(threads=threads)
    tables = {}
    for name in ("transactions", "events", "subscriptions", "customers"):
        source = getattr(data, name)
        if source is not None:
            tables[name] = con.create_table(name, read_source(name, source, data.parse).clean)
    return Sources.reading_event_types(**tables)


@dataclass(frozen=True)
class Holdout:
    """What was known at `as_of` and what happened next: the way every model here is judged."""

    training: pd.DataFrame  # labelled snapshots at earlier cutoffs whose horizons all close by as_of
    evaluation: pd.DataFrame  # the customers at as_of, their features then, labelled over the next `evaluation_horizon_days`


def holdout(
    sources: Sources, as_of: dt.datetime, windows_days: list[int], horizon_days: int, cutoffs: int, spacing_days: int,
    evaluation_horizon_days: int | None = None, active_days: int | None = None,
) -> Holdout:
    """Training snapshots at `cutoffs` cutoffs `spacing_days` apart, the latest `horizon_days` before `as_of`,
    and the snapshot at `as_of` labelled over `evaluation_horizon_days` (default: the same horizon)."""
    con = sources.transactions._find_backend()
    past = training_cutoffs(as_of, horizon_days, cutoffs, spacing_days)
    return Holdout(
        training=con.to_pandas(training_snapshots(sources, past, windows_days, horizon_days, active_days)),
        evaluation=con.to_pandas(snapshot(sources, as_of, windows_days, evaluation_horizon_days or horizon_days, active_days)),
    )
