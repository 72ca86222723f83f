"""Row-level validation: every input row ends up either valid or quarantined with a reason.

Each mapped column is cast from text row by row: a value that cannot be read, or cannot be
believed, sends its row (never the file) to quarantine, with the column and the value, and a
reason a person can act on. The rules are in docs/your_data.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from pipeline.files import RawTable

# When a row fails several checks, the first of these names its primary reason.
_REASON_ORDER = ("malformed", "missing", "unparseable", "out of range", "future", "negative", "excluded", "ends before", "duplicate")

# pandas keeps nanoseconds since 1970 in 64 bits: a year outside this span cannot be held at all.
_REPRESENTABLE_YEARS = (1678, 2261)


@dataclass(frozen=True)
class Field:
    """One column the pipeline needs from a user's file, under the pipeline's name for it."""

    column: str
    kind: Literal["text", "identifier", "timestamp", "number", "attribute"]
    """An attribute is a number where every value present is one (spend, months), else text (a channel)."""
    required: bool = True
    non_negative: bool = False
    maximum: float | None = None
    excluded_values: tuple[str, ...] = ()
    unique: bool = False
    not_before: str | None = None
    """Another field (by the pipeline's name) that this one may not precede, as an end its start."""
    meaningful: tuple[str, ...] = ()
    """Values that are this column's own, never null tokens (a control arm called "None")."""


@dataclass(frozen=True)
class Parsing:
    """How text becomes values, and which values are believable (params `data.parse`)."""

    null_values: tuple[str, ...]
    decimal: str
    thousands: str | None
    earliest: dt.datetime
    latest: dt.datetime
    """The end of the run's day: a row dated later has not happened yet."""
    max_abs_number: float
    timestamp_format: str | None = None


@dataclass(frozen=True)
class Validated:
    valid: pd.DataFrame
    """Rows that passed: one column per field, named and typed as the pipeline needs, plus source_row."""
    quarantine: pd.DataFrame
    """One row per failed input row: source_file, source_row, reason, column, value, then the raw columns."""
    summary: dict = field(default_factory=dict)


QUARANTINE_COLUMNS = ("source_file", "source_row", "reason", "column", "value")


@dataclass
class Seen:
    """What the earlier batches of one file held, for the checks that span rows: duplicate rows and
    values that must be unique. Kept as sorted 64-bit hashes (8 bytes a row), so a file of any length
    is checked in batches. Two different rows share a hash with odds of about n^2 / 2^65 (1 in 15,000
    for 50 M rows); such a row would be quarantined as a duplicate, never lost."""

    hashes: dict[str, np.ndarray] = field(default_factory=dict)

    def repeated(self, key: str, hashes: np.ndarray) -> np.ndarray:
        """Which of `hashes` an earlier row of the file (this batch's included) already had; remembers them all."""
        earlier = self.hashes.get(key, np.empty(0, dtype=np.uint64))
        order = np.argsort(hashes, kind="stable")  # sorted, an earlier row comes first among equals
        ordered = hashes[order]
        later_copy = np.r_[False, ordered[1:] == ordered[:-1]]
        known = np.zeros(len(ordered), dtype=bool)
        if len(earlier):  # sorted lookups walk the long array once, in order
            known = earlier[np.minimum(np.searchsorted(earlier, ordered), len(earlier) - 1)] == ordered
        repeated = np.empty(len(hashes), dtype=bool)
        repeated[order] = known | later_copy
        # Two sorted runs: the stable sort merges them in one linear pass.
        self.hashes[key] = np.sort(np.concatenate([earlier, ordered[~(known | later_copy)]]), kind="stable")
        return repeated


def _hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's values (DuckDB's: several times faster than pandas' on text)."""
    with duckdb.connect() as con:
        con.register("batch", pa.Table.from_pandas(frame, preserve_index=False))
        (hashes,) = con.execute("SELECT hash(*COLUMNS(*)) FROM batch").fetchnumpy().values()
    return np.asarray(hashes, dtype=np.uint64)


def normalised_identifier(text: pd.Series) -> pd.Series:
    """`123.0` is `123`: a spreadsheet writes integer ids as floats, and the two are one customer."""
    return text.str.replace(r"^([+-]?\d+)\.0+$", r"\1", regex=True)


def _numbers(text: pd.Series, parsing: Parsing) -> tuple[pd.Series, pd.Series, pd.Series]:
    cleaned = text
    if parsing.thousands:
        cleaned = cleaned.str.replace(parsing.thousands, "", regex=False)
    if parsing.decimal != ".":
        cleaned = cleaned.str.replace(".", "\x00", regex=False).str.replace(parsing.decimal, ".", regex=False)
    values = pd.to_numeric(cleaned.astype(object), errors="coerce").astype("float64")
    unparseable = text.notna() & values.isna()
    out_of_range = values.notna() & ~(values.abs() <= parsing.max_abs_number)  # inf and 1e309 included
    return values, unparseable, out_of_range


def _timestamps(text: pd.Series, parsing: Parsing) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Values (naive, UTC), unparseable, out of range, after the run's day.

    A timestamp with a UTC offset is converted to UTC; one without is taken as UTC already,
    so a file mixing the two keeps every row on one clock.
    """
    parsed = pd.to_datetime(text.astype(object), format=parsing.timestamp_format or "ISO8601", errors="coerce", utc=True)
    values = pd.Series(parsed, index=text.index).dt.tz_localize(None).astype("datetime64[us]")
    failed = text.notna() & values.isna()
    year = pd.to_numeric(text[failed].str.extract(r"(?<!\d)(\d{4})(?!\d)", expand=False).astype(object), errors="coerce")
    unrepresentable = ((year < _REPRESENTABLE_YEARS[0]) | (year > _REPRESENTABLE_YEARS[1])).reindex(text.index, fill_value=False).astype(bool)
    out_of_range = unrepresentable | (values < parsing.earliest).fillna(False)
    future = (values >= parsing.latest).fillna(False)
    return values, failed & ~unrepresentable, out_of_range, future


def validate_source(table: RawTable, fields: dict[str, Field], parsing: Parsing, unique_rows: bool = False, seen: Seen | None = None) -> Validated:
    """Validate `table` against `fields`, keyed by the pipeline's names. `table` may be one batch of a
    file: `seen` carries what the file's earlier batches held (a fresh one: `table` is the whole file).

    Reasons use the pipeline's names (missing customer_id), the quarantine's `column` the
    user's, so that metrics read the same for every data set and a person can find the cell.
    """
    seen = Seen() if seen is None else seen
    original = table.frame
    raw = _trimmed(original, list(fields.values()), parsing.null_values)
    checks: list[tuple[str, str, pd.Series]] = []  # (reason, the user's column, failing rows)
    if table.malformed is not None:
        checks.append(("malformed row: its number of fields differs from the header's", "(all)", table.malformed))
    typed = {}
    for name, spec in fields.items():
        text, column = raw[spec.column], spec.column
        if spec.required:
            checks.append((f"missing {name}", column, text.isna()))
        numbers = _numbers(text, parsing) if spec.kind in ("number", "attribute") else None
        if spec.kind == "attribute" and numbers[1].any():  # a value that is no number: the attribute is text
            numbers = None
        if numbers is not None:
            values, unparseable, out_of_range = numbers
            checks += [(f"unparseable {name}", column, unparseable), (f"out of range {name}", column, out_of_range)]
        elif spec.kind == "timestamp":
            values, unparseable, out_of_range, future = _timestamps(text, parsing)
            checks += [
                (f"unparseable {name}", column, unparseable),
                (f"out of range {name} (before {parsing.earliest:%Y-%m-%d} or unrepresentable)", column, out_of_range),
                (f"future {name} (after the run's day, {parsing.latest - dt.timedelta(days=1):%Y-%m-%d})", column, future),
            ]
        else:
            values = (normalised_identifier(text) if spec.kind == "identifier" else text).astype("string")
        if spec.non_negative:
            checks.append((f"negative {name}", column, (values < 0).fillna(False)))
        if spec.maximum is not None:
            checks.append((f"out of range {name}", column, (values > spec.maximum).fillna(False)))
        if spec.excluded_values:
            checks.append((f"excluded {name}", column, values.isin(list(spec.excluded_values)).fillna(False)))
        if spec.unique:
            present = values.notna().to_numpy()
            repeated = np.zeros(len(values), dtype=bool)
            repeated[present] = seen.repeated(name, _hashes(values[present].to_frame()))
            checks.append((f"duplicate {name}", column, pd.Series(repeated, index=values.index)))
        typed[name] = values
    for name, spec in fields.items():
        if spec.not_before:
            checks.append((f"ends before start: {name} before {spec.not_before}", spec.column, (typed[name] < typed[spec.not_before]).fillna(False)))
    if unique_rows:
        checks.append(("duplicate row", "(all)", pd.Series(seen.repeated("(row)", _hashes(raw)), index=raw.index)))

    per_row = _reasons_per_row(original, checks)
    quarantine = _quarantine_rows(original, per_row, table.file)
    passed = ~raw.index.isin(per_row.index)
    valid = pd.DataFrame({name: values[passed] for name, values in typed.items()})
    valid["source_row"] = raw.index[passed].to_numpy(dtype="int64") + 1
    summary = {"rows_in": int(len(raw)), "rows_clean": int(len(valid)), "rows_quarantined": int(len(quarantine))}
    by_reason = per_row["primary"].value_counts().sort_index()
    summary["quarantined_by_reason"] = {str(reason): int(count) for reason, count in by_reason.items()}
    return Validated(valid=valid.reset_index(drop=True), quarantine=quarantine, summary=summary)


def _trimmed(raw: pd.DataFrame, fields: list[Field], null_values: tuple[str, ...]) -> pd.DataFrame:
    """Trim the mapped text columns; a cell of blanks or a null token (NULL, N/A, ...) is a missing value."""
    raw = raw.copy()
    kept = {spec.column: set(spec.meaningful) for spec in fields}
    for spec in fields:
        kept[spec.column] &= set(spec.meaningful)  # a column mapped twice keeps only what both keep
    for column, meaningful in kept.items():
        nulls = [token for token in (*null_values, "") if token not in meaningful]
        text = raw[column].astype("string").str.strip()
        raw[column] = text.mask(text.isin(nulls))
    return raw


def _priority(reason: str) -> int:
    return next((i for i, prefix in enumerate(_REASON_ORDER) if reason.startswith(prefix)), len(_REASON_ORDER))


def _reasons_per_row(raw: pd.DataFrame, checks: list[tuple[str, str, pd.Series]]) -> pd.DataFrame:
    """One row per failing input row: its reasons (primary first), the primary one, and its column and value."""
    hits = [
        pd.DataFrame({"position": np.flatnonzero(mask.to_numpy(dtype=bool)), "reason": reason, "column": column, "order": order})
        for order, (reason, column, mask) in enumerate(checks)
    ]
    failures = pd.concat(hits, ignore_index=True) if hits else pd.DataFrame(columns=["position", "reason", "column", "order"])
    failures["priority"] = failures["reason"].map({reason: _priority(reason) for reason in failures["reason"].unique()})
    failures = failures.sort_values(["position", "priority", "order"], kind="stable").drop_duplicates(["position", "reason"])
    rank = failures.groupby("position", sort=False).cumcount().to_numpy()
    first = failures[rank == 0].set_index("position")
    reasons = first["reason"].astype(object)
    for level in range(1, int(rank.max(initial=0)) + 1):  # a row's further reasons, joined level by level
        more = failures[rank == level].set_index("position")["reason"]
        reasons.loc[more.index] = reasons.loc[more.index] + "; " + more
    value = pd.Series(None, index=first.index, dtype=object)
    for column, rows in first.groupby("column", sort=False).groups.items():
        if column != "(all)":
            value.loc[rows] = raw[column].to_numpy()[rows.to_numpy()]
    per_row = pd.DataFrame({"reason": reasons, "primary": first["reason"].astype(object), "column": first["column"], "value": value})
    per_row.index = raw.index[first.index.to_numpy(dtype="int64")]
    return per_row


def _quarantine_rows(raw: pd.DataFrame, per_row: pd.DataFrame, source_file: str) -> pd.DataFrame:
    rows = per_row.index.to_numpy(dtype="int64")
    head = pd.DataFrame(
        {
            "source_file": pd.Series([source_file] * len(rows), dtype="string"),
            "source_row": rows + 1,
            "reason": per_row["reason"].astype("string").to_numpy(),
            "column": per_row["column"].astype("string").to_numpy(),
            "value": pd.Series(per_row["value"].to_numpy(), dtype="string"),
        }
    )
    # A source column may be called `reason` or `value` too: it keeps its content under a marked name.
    original = raw.loc[rows].reset_index(drop=True)
    original.columns = [f"{column} (source)" if column in QUARANTINE_COLUMNS else column for column in original.columns]
    return pd.concat([head, original], axis=1)


def primary_reason(reasons: pd.Series) -> pd.Series:
    """The first reason of each quarantine row: what the row is counted under in the summary."""
    return reasons.str.split("; ", n=1).str[0]
