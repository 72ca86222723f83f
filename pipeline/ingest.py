"""Stage `ingest`: the user's files -> clean tables, quarantine files and a summary metric."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features import sources as cleaners
from features.validation import Parsing, Seen, primary_reason
from pipeline import config, files

CLEAN_TABLES = {
    "transactions": config.CLEAN_TRANSACTIONS,
    "events": config.CLEAN_EVENTS,
    "subscriptions": config.CLEAN_SUBSCRIPTIONS,
    "customers": config.CLEAN_CUSTOMERS,
    "surveys": config.CLEAN_SURVEYS,
}
BATCH_ROWS = 250_000
"""Rows cast at a time: with the batch's copies, a few hundred MB whatever the file's length."""


def summary_line(name: str, path: str, summary: dict) -> str:
    line = f"{name}: {path}: {summary['rows_in']:,} rows in, {summary['rows_clean']:,} clean"
    first = summary.get("first_quarantined")
    if first:
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in summary["quarantined_by_reason"].items())
        line += (
            f", {summary['rows_quarantined']:,} quarantined ({reasons})"
            f"; first: row {first['row']}, column {first['column']!r}: {first['reason']}"
        )
    return line


def parsing(parse: config.ParseParams, run_day: dt.date | None = None) -> Parsing:
    """The rules a file's text is read by; `run_day` (default: today, UTC): rows dated after it are quarantined."""
    run_day = run_day or dt.datetime.now(dt.UTC).date()
    return Parsing(
        null_values=tuple(parse.null_values), decimal=parse.decimal, thousands=parse.thousands,
        earliest=dt.datetime.combine(parse.earliest_date, dt.time()),
        latest=dt.datetime.combine(run_day + dt.timedelta(days=1), dt.time()),
        max_abs_number=parse.max_abs_number,
    )


@dataclass(frozen=True)
class Engine:
    """DuckDB's share of the machine while it finishes a file (params `features`)."""

    memory_limit: str | None = None
    threads: int | None = None

    def connect(self, spill: Path) -> duckdb.DuckDBPyConnection:
        settings = {"temp_directory": str(spill), "preserve_insertion_order": True}
        if self.threads:
            settings["threads"] = self.threads
        if self.memory_limit:
            # The limit is the whole process's: DuckDB gets what Python does not hold already, less a fifth,
            # as its limit is no hard cap (measured: 2.15 GB peak at 50 M rows with all the rest given).
            held = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            share = max(_bytes(self.memory_limit) - held, _bytes(self.memory_limit) // 4) * 4 // 5
            settings["memory_limit"] = f"{share // 2**20}MiB"
        return duckdb.connect(config=settings)


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def _bytes(size: str) -> int:
    """'2GB' -> 2_000_000_000, as DuckDB reads a memory limit."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B)?\s*", size.upper())
    if not match:
        raise config.ConfigError(f"features.memory_limit: {size!r} is no size (e.g. 2GB, 512MiB)")
    return int(float(match[1]) * _UNITS[match[2] or ""])


def ingest_source(name: str, source: config.Source, shared: config.ParseParams, clean_target: Path, quarantine_target: Path,
                  workdir: Path, engine: Engine = Engine(), run_day: dt.date | None = None) -> dict:
    """One source read in batches and cleaned, as `shared` and the source's own parse settings say
    (`parsing`): its clean table written to `clean_target` as Parquet, its quarantined rows to
    `quarantine_target` as a spreadsheet CSV. Returns its summary."""
    parse = source.parse_settings(shared)
    raw = files.open_raw_file(source.path, parse.encoding, parse.delimiter)
    files.require_columns(raw.columns, source.mapped_columns, source.path, f"data.{name}")
    rules = parsing(parse, run_day)
    if raw.kind == "parquet":  # typed numbers are written with a dot
        rules = replace(rules, decimal=".", thousands=None)
    lines_path = workdir / f"{name}.lines.parquet"
    counts, first, schema = _clean_batches(name, raw, source, rules, lines_path, quarantine_target)
    with engine.connect(workdir / "spill") as con:
        con.read_parquet(str(lines_path)).create_view("lines")
        with pq.ParquetWriter(clean_target, schema) as writer:
            for batch in con.sql(cleaners.finish_sql(name)).to_arrow_reader(BATCH_ROWS):
                writer.write_table(pa.Table.from_batches([batch]).cast(schema))
        con.read_parquet(str(clean_target)).create_view("clean")
        summary = cleaners.summarise(name, con, counts)
    lines_path.unlink()
    return summary | ({"first_quarantined": first} if first else {})


def _clean_batches(name: str, raw: files.RawFile, source: config.Source, rules: Parsing, lines_path: Path,
                   quarantine_target: Path) -> tuple[dict, dict | None, pa.Schema]:
    """Every batch of `raw` cleaned: clean rows to `lines_path` in file order, quarantined ones to
    `quarantine_target`. Returns the row counts, the first quarantined row, the clean rows' schema."""
    counts, first, seen, schema = {}, None, Seen(), None
    with contextlib.ExitStack() as stack:
        quarantine = stack.enter_context(files.SpreadsheetCsvWriter(quarantine_target))
        lines = None
        for batch in raw.batches(2**62 if cleaners.KINDS[name].whole_file else BATCH_ROWS):
            part = cleaners.clean_batch(name, batch, source, rules, seen)
            if lines is None:
                schema = pa.Schema.from_pandas(part.clean, preserve_index=False)
                lines = stack.enter_context(pq.ParquetWriter(lines_path, schema))
            lines.write_table(pa.Table.from_pandas(part.clean, schema=schema, preserve_index=False))
            quarantine.write(part.quarantine)
            if first is None and len(part.quarantine):
                row = part.quarantine.iloc[0]
                first = {"row": int(row["source_row"]), "column": str(row["column"]), "reason": primary_reason(part.quarantine["reason"].iloc[:1]).iloc[0]}
            counts = cleaners.add_counts(counts, part.summary)
    return counts, first, schema


def read_source(name: str, source: config.Source, shared: config.ParseParams, engine: Engine = Engine()) -> cleaners.Ingested:
    """One source cleaned into memory, as ingest cleans it into files: for steps that read a source
    of their own (`churn uplift`) and for notebooks."""
    with tempfile.TemporaryDirectory(prefix="churn-ingest-") as folder:
        folder = Path(folder)
        summary = ingest_source(name, source, shared, folder / "clean.parquet", folder / "quarantine.csv", folder, engine)
        clean = pd.read_parquet(folder / "clean.parquet")
        quarantine = pd.read_csv(folder / "quarantine.csv", dtype="string", keep_default_na=False)
    return cleaners.Ingested(clean=clean, quarantine=quarantine, summary=summary)


def run(params: config.Params) -> dict:
    params.data.required_transactions()
    mapped = {name: getattr(params.data, name) for name in CLEAN_TABLES if getattr(params.data, name) is not None}
    engine = Engine(params.features.memory_limit, params.features.threads)
    metrics = {}
    # Everything is written aside and put in place together: a bad file leaves the last outputs whole.
    with files.publishing("ingest") as publication:
        workdir = publication.root / "work"
        workdir.mkdir(parents=True, exist_ok=True)
        for name, target in CLEAN_TABLES.items():
            quarantine = config.QUARANTINE / f"{name}.csv"
            if name in mapped:
                metrics[name] = ingest_source(name, mapped[name], params.data.parse, publication.staged(target),
                                              publication.staged(quarantine), workdir, engine)
                if name == "transactions" and not metrics[name]["rows_clean"]:
                    raise files.InputError(f"no valid transaction rows: {summary_line(name, mapped[name].path, metrics[name])}")
            else:
                files.write_parquet(cleaners.empty_table(name), publication.staged(target))
                publication.remove(quarantine)
        shutil.rmtree(workdir)
        files.write_json(metrics, publication.staged(config.INGEST_METRICS))
    for name, summary in metrics.items():
        quarantined = f" -> {config.QUARANTINE / f'{name}.csv'}" if summary["rows_quarantined"] else ""
        print(summary_line(name, mapped[name].path, summary) + quarantined, file=sys.stderr)
    return metrics
