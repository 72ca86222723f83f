"""For notebooks and benchmarks: the pipeline's steps on data in memory, without its files."""

from __future__ import annotations

import ibis

from features.snapshots import Sources
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
