"""Row-level validation: every input row ends up either valid or quarantined with a reason.

The checks themselves are pandera's; this module declares them from a small field spec and
turns pandera's failure cases into one quarantine row per bad input row, with a reason a
person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
import pandera.pandas as pa
from pandera.engines import pandas_engine
from pandera.errors import SchemaErrors

# When a row fails several checks, the first of these names its primary reason.
_REASON_ORDER = ("missing", "unparseable", "negative", "out of range", "excluded", "duplicate")


@dataclass(frozen=True)
class Field:
    """One column the pipeline needs from a user's file, under the pipeline's name for it."""

    column: str
    kind: Literal["text", "timestamp", "number"]
    required: bool = True
    non_negative: bool = False
    maximum: float | None = None
    excluded_values: tuple[str, ...] = ()
    unique: bool = False


@dataclass(frozen=True)
class Validated:
    valid: pd.DataFrame
    """Rows that passed: one column per field, named and typed as the pipeline needs, plus source_row."""
    quarantine: pd.DataFrame
    """One row per failed input row: source_file, source_row, reason, column, value, then the raw columns."""
    summary: dict = field(default_factory=dict)


def _pandera_column(spec: Field, timestamp_format: str | None) -> pa.Column:
    checks = []
    if spec.non_negative:
        checks.append(pa.Check.ge(0))
    if spec.maximum is not None:
        checks.append(pa.Check.le(spec.maximum))
    if spec.excluded_values:
        checks.append(pa.Check.notin(list(spec.excluded_values)))
    if spec.kind == "timestamp":
        dtype = pandas_engine.DateTime(to_datetime_kwargs={"format": timestamp_format or "ISO8601"})
    else:
        dtype = "float64" if spec.kind == "number" else "string"
    return pa.Column(
        dtype, checks=checks, coerce=spec.kind != "text", nullable=not spec.required,
        unique=spec.unique, report_duplicates="exclude_first",
    )


def _reason(check: str, concept: str) -> str | None:
    if check == "multiple_fields_uniqueness":
        return "duplicate row"
    if check == "field_uniqueness":
        return f"duplicate {concept}"
    if check == "not_nullable":
        return f"missing {concept}"
    if check.startswith("coerce_dtype"):
        return f"unparseable {concept}"
    if check.startswith("greater_than_or_equal_to"):
        return f"negative {concept}"
    if check.startswith("less_than_or_equal_to"):
        return f"out of range {concept}"
    if check.startswith("notin"):
        return f"excluded {concept}"
    if check.startswith("dtype"):
        return None  # always reported together with the coerce_dtype failure it stems from
    return f"{check} {concept}"


def _priority(reason: str) -> int:
    return next((i for i, prefix in enumerate(_REASON_ORDER) if reason.startswith(prefix)), len(_REASON_ORDER))


def validate_source(
    raw: pd.DataFrame,
    fields: dict[str, Field],
    *,
    source_file: str,
    timestamp_format: str | None = None,
    unique_rows: bool = False,
) -> Validated:
    """Validate `raw` (text columns, as read) against `fields`, keyed by the pipeline's names.

    Reasons use the pipeline's names (missing customer_id), the quarantine's `column` the
    user's, so that metrics read the same for every data set and a person can find the cell.
    """
    raw = _trimmed(raw, [spec.column for spec in fields.values()])
    concepts = {spec.column: name for name, spec in fields.items()}
    columns = {spec.column: _pandera_column(spec, timestamp_format) for spec in fields.values()}
    schema = pa.DataFrameSchema(columns, unique=list(raw.columns) if unique_rows else None, report_duplicates="exclude_first")
    # Where a column holds text that is not a number, pandera cannot run the column's range
    # checks at all; they run on the next pass, once the unparseable rows are out.
    failed, remaining = [], raw
    while True:
        try:
            valid = schema.validate(remaining, lazy=True)
            break
        except SchemaErrors as errors:
            per_row = _reasons_per_row(errors.failure_cases, concepts)
            if per_row.empty:
                raise
            failed.append(per_row)
            remaining = remaining.drop(index=per_row.index)
    per_row = pd.concat(failed).sort_index(kind="stable") if failed else pd.DataFrame(columns=["reason", "column", "value"])
    quarantine = _quarantine_rows(raw, per_row, source_file)
    typed = pd.DataFrame({name: valid[spec.column] for name, spec in fields.items()})
    for name, spec in fields.items():
        if spec.kind == "timestamp":
            typed[name] = typed[name].astype("datetime64[us]")
        elif spec.kind == "text":
            typed[name] = typed[name].astype("string")
    typed["source_row"] = valid.index.to_numpy(dtype="int64") + 1
    summary = {"rows_in": int(len(raw)), "rows_clean": int(len(typed)), "rows_quarantined": int(len(quarantine))}
    by_reason = primary_reason(quarantine["reason"]).value_counts().sort_index()
    summary["quarantined_by_reason"] = {str(reason): int(count) for reason, count in by_reason.items()}
    return Validated(valid=typed.reset_index(drop=True), quarantine=quarantine, summary=summary)


def _trimmed(raw: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Trim the mapped text columns; a cell of blanks is a missing value."""
    raw = raw.copy()
    for column in dict.fromkeys(columns):
        raw[column] = raw[column].str.strip().replace("", pd.NA)
    return raw


def _reasons_per_row(failures: pd.DataFrame, concepts: dict[str, str]) -> pd.DataFrame:
    failures = failures[failures["index"].notna()].copy()
    # pandera also reports a missing value as failing to coerce; `missing` already says it.
    missing_coerced = failures["check"].str.startswith("coerce_dtype") & failures["failure_case"].isna()
    failures = failures[~missing_coerced]
    failures["reason"] = [
        _reason(check, concepts.get(column, str(column)))
        for check, column in zip(failures["check"], failures["column"], strict=True)
    ]
    failures = failures[failures["reason"].notna()]
    failures["index"] = failures["index"].astype("int64")
    failures["priority"] = failures["reason"].map(_priority)
    # Row uniqueness is reported once per column of the duplicate row: keep one failure per row and reason.
    failures = failures.sort_values(["index", "priority", "column"], kind="stable").drop_duplicates(["index", "reason"])
    failures.loc[failures["reason"] == "duplicate row", ["column", "failure_case"]] = ["(all)", None]
    return failures.groupby("index", sort=True).agg(
        reason=("reason", "; ".join), column=("column", "first"), value=("failure_case", "first")
    )


def _quarantine_rows(raw: pd.DataFrame, per_row: pd.DataFrame, source_file: str) -> pd.DataFrame:
    rows = per_row.index.to_numpy(dtype="int64")
    head = pd.DataFrame(
        {
            "source_file": pd.Series([source_file] * len(rows), dtype="string"),
            "source_row": rows + 1,
            "reason": per_row["reason"].astype("string").to_numpy(),
            "column": per_row["column"].astype("string").to_numpy(),
            "value": per_row["value"].astype("string").to_numpy(),
        }
    )
    return pd.concat([head, raw.loc[rows].reset_index(drop=True)], axis=1)


def primary_reason(reasons: pd.Series) -> pd.Series:
    """The first reason of each quarantine row: what the row is counted under in the summary."""
    return reasons.str.split("; ", n=1).str[0]
