"""Stage `ingest`: the user's files -> clean tables, quarantine files and a summary metric."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import replace

from features import sources as cleaners
from features.validation import Parsing, primary_reason
from pipeline import config, io

CLEANERS = {
    "transactions": cleaners.clean_transactions,
    "events": cleaners.clean_events,
    "subscriptions": cleaners.clean_subscriptions,
    "customers": cleaners.clean_customers,
    "surveys": cleaners.clean_surveys,
    "campaign": cleaners.clean_campaign,  # read by `churn uplift`, which runs without transactions
}
CLEAN_TABLES = {
    "transactions": config.CLEAN_TRANSACTIONS,
    "events": config.CLEAN_EVENTS,
    "subscriptions": config.CLEAN_SUBSCRIPTIONS,
    "customers": config.CLEAN_CUSTOMERS,
    "surveys": config.CLEAN_SURVEYS,
}


def summary_line(name: str, path: str, result: cleaners.Ingested) -> str:
    summary = result.summary
    line = f"{name}: {path}: {summary['rows_in']:,} rows in, {summary['rows_clean']:,} clean"
    if len(result.quarantine):
        first = result.quarantine.iloc[0]
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in summary["quarantined_by_reason"].items())
        line += (
            f", {summary['rows_quarantined']:,} quarantined ({reasons})"
            f"; first: row {first['source_row']}, column {first['column']!r}: {primary_reason(result.quarantine['reason']).iloc[0]}"
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


def ingest_source(name: str, source: config.Source, shared: config.ParseParams, run_day: dt.date | None = None) -> cleaners.Ingested:
    """One source read and cleaned, as `shared` and the source's own parse settings say (`parsing`)."""
    parse = source.parse_settings(shared)
    raw = io.read_raw_table(source.path, parse.encoding, parse.delimiter)
    io.require_columns(raw.frame, source.mapped_columns, source.path, f"data.{name}")
    rules = parsing(parse, run_day)
    if raw.self_describing:
        rules = replace(rules, decimal=".", thousands=None)
    return CLEANERS[name](raw, source, rules)


def run(params: config.Params) -> dict:
    params.data.required_transactions()
    mapped = {name: getattr(params.data, name) for name in CLEAN_TABLES if getattr(params.data, name) is not None}
    # Read and validate everything before writing anything: a bad file leaves the last outputs whole.
    results = {name: ingest_source(name, source, params.data.parse) for name, source in mapped.items()}
    if results["transactions"].clean.empty:
        raise io.InputError(f"no valid transaction rows: {summary_line('transactions', params.data.transactions.path, results['transactions'])}")

    metrics = {name: result.summary for name, result in results.items()}
    with io.publishing("ingest") as publication:
        for name, target in CLEAN_TABLES.items():
            io.write_parquet(results[name].clean if name in results else cleaners.empty_table(name), publication.staged(target))
            quarantine = config.QUARANTINE / f"{name}.csv"
            if name in results:
                io.write_spreadsheet_csv(results[name].quarantine, publication.staged(quarantine))
            else:
                publication.remove(quarantine)
        io.write_json(metrics, publication.staged(config.INGEST_METRICS))
    for name, result in results.items():
        quarantined = f" -> {config.QUARANTINE / f'{name}.csv'}" if len(result.quarantine) else ""
        print(summary_line(name, mapped[name].path, result) + quarantined, file=sys.stderr)
    return metrics
