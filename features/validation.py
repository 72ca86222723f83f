"""Row-level validation: every input row ends up either valid or quarantined with a reason.

The checks themselves are pandera's; this module only turns pandera's failure cases into
one quarantine row per bad input row, with a reason a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

# When a row fails several checks, the first of these names its primary reason.
_REASON_ORDER = ("missing", "unparseable", "negative", "excluded", "duplicate row")


@dataclass(frozen=True)
class Validated:
    valid: pd.DataFrame
    """Rows that passed, with their columns coerced to the schema's types."""
    quarantine: pd.DataFrame
    """One row per failed input row: source_file, source_row, reason, column, value, then the raw columns."""


def _reason(check: str, concept: str) -> str | None:
    if check == "multiple_fields_uniqueness":
        return "duplicate row"
    if check in ("not_nullable", "str_length(1, None)"):
        return f"missing {concept}"
    if check.startswith("coerce_dtype"):
        return f"unparseable {concept}"
    if check.startswith("greater_than_or_equal_to"):
        return f"negative {concept}"
    if check.startswith("notin"):
        return f"excluded {concept}"
    if check.startswith("dtype"):
        return None  # always reported together with the coerce_dtype failure it stems from
    return f"{check} {concept}"


def _priority(reason: str) -> int:
    return next((i for i, prefix in enumerate(_REASON_ORDER) if reason.startswith(prefix)), len(_REASON_ORDER))


def validate_rows(
    raw: pd.DataFrame,
    columns: dict[str, pa.Column],
    concepts: dict[str, str],
    *,
    source_file: str,
    unique_rows: bool,
) -> Validated:
    """Validate `raw` (text columns, as read) against `columns`, keyed by the user's column names.

    `concepts` maps each user column to the pipeline's name for it (customer_id, timestamp, ...),
    so that reasons read the same whatever the user's file calls its columns.
    """
    schema = pa.DataFrameSchema(
        columns,
        unique=list(raw.columns) if unique_rows else None,
        report_duplicates="exclude_first",
    )
    try:
        return Validated(valid=schema.validate(raw, lazy=True), quarantine=_empty_quarantine(raw))
    except SchemaErrors as errors:
        failures = errors.failure_cases
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
    # Uniqueness is reported once per column of the duplicate row: keep one failure per row and reason.
    failures = failures.sort_values(["index", "priority", "column"], kind="stable")
    failures = failures.drop_duplicates(["index", "reason"])
    failures.loc[failures["reason"] == "duplicate row", ["column", "failure_case"]] = ["(all)", None]
    per_row = failures.groupby("index", sort=True).agg(
        reason=("reason", "; ".join),
        column=("column", "first"),
        value=("failure_case", "first"),
    )
    bad = per_row.index.to_numpy()
    quarantine = pd.concat(
        [
            pd.DataFrame(
                {
                    "source_file": source_file,
                    "source_row": bad + 1,
                    "reason": per_row["reason"].to_numpy(),
                    "column": per_row["column"].astype("string").to_numpy(),
                    "value": per_row["value"].astype("string").to_numpy(),
                }
            ),
            raw.loc[bad].reset_index(drop=True),
        ],
        axis=1,
    )
    # The remaining rows pass by construction; validating them again is what coerces their types.
    valid = pa.DataFrameSchema(columns).validate(raw.drop(index=bad))
    return Validated(valid=valid, quarantine=quarantine)


def _empty_quarantine(raw: pd.DataFrame) -> pd.DataFrame:
    head = pd.DataFrame(
        {
            "source_file": pd.Series(dtype="string"),
            "source_row": pd.Series(dtype="int64"),
            "reason": pd.Series(dtype="string"),
            "column": pd.Series(dtype="string"),
            "value": pd.Series(dtype="string"),
        }
    )
    return pd.concat([head, raw.iloc[0:0].reset_index(drop=True)], axis=1)


def primary_reason(reasons: pd.Series) -> pd.Series:
    """The first reason of each quarantine row: what the row is counted under in the summary."""
    return reasons.str.split("; ", n=1).str[0]
