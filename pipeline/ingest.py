"""Stage `ingest`: the user's files -> clean tables, quarantine files and a summary metric."""

from __future__ import annotations

import sys
from pathlib import Path

from features.transactions import Ingested, clean_events, clean_transactions, empty_events
from features.validation import primary_reason
from pipeline import config, io


def _report(name: str, path: str, result: Ingested) -> None:
    summary = result.summary
    line = f"{name}: {path}: {summary['rows_in']:,} rows in, {summary['rows_clean']:,} clean"
    if len(result.quarantine):
        first = result.quarantine.iloc[0]
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in summary["quarantined_by_reason"].items())
        line += (
            f", {summary['rows_quarantined']:,} quarantined ({reasons}) -> {config.QUARANTINE / f'{name}.csv'}"
            f"; first: row {first['source_row']}, column {first['column']!r}: {primary_reason(result.quarantine['reason']).iloc[0]}"
        )
    print(line, file=sys.stderr)


def _read(source: config.TransactionsSource | config.EventsSource, section: str):
    raw = io.read_raw_table(source.path)
    io.require_columns(raw, source.mapped_columns, source.path, section)
    return raw


def run(params: config.Params) -> dict:
    sources = params.data
    transactions = clean_transactions(
        _read(sources.transactions, "data.transactions"), sources.transactions, Path(sources.transactions.path).name
    )
    if transactions.clean.empty:
        raise io.InputError(f"{sources.transactions.path}: no valid transaction rows; see {config.QUARANTINE / 'transactions.csv'}")
    outcomes = {"transactions": transactions}
    if sources.events is not None:
        outcomes["events"] = clean_events(_read(sources.events, "data.events"), sources.events, Path(sources.events.path).name)

    io.write_parquet(transactions.clean, config.CLEAN_TRANSACTIONS)
    io.write_parquet(outcomes["events"].clean if "events" in outcomes else empty_events(), config.CLEAN_EVENTS)
    for name in ("transactions", "events"):
        target = config.QUARANTINE / f"{name}.csv"
        if name in outcomes:
            io.write_csv(outcomes[name].quarantine, target)
            _report(name, getattr(sources, name).path, outcomes[name])
        else:
            target.unlink(missing_ok=True)
    metrics = {name: result.summary for name, result in outcomes.items()}
    io.write_json(metrics, config.INGEST_METRICS)
    return metrics
