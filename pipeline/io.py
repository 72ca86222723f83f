"""Reading inputs and writing outputs: the edges of the pipeline.

Every writer goes through `atomic_path`, so a run that dies midway leaves the previous
file in place, never half of a new one; a stage's outputs are published together
(`publishing`), so it never leaves some new and some old.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq



class InputError(Exception):
    """An input cannot be used at all; the message names the file and, where it can, the column."""


@dataclass(frozen=True)
class RawTable:
    """A user's file as read: every column as text, one row per data row of the file."""

    frame: pd.DataFrame
    file: str
    """The file's name, as the quarantine names it."""
    malformed: pd.Series | None = None
    """Rows the reader could not split into the header's columns (padded or cut to fit), if any."""
    self_describing: bool = False
    """Read from a typed file (Parquet): its numbers are written with a dot, whatever `data.parse` says."""



def read_raw_table(path: str | Path, encoding: str | None = None, delimiter: str | None = None) -> RawTable:
    """Read a CSV (plain or gzip) or Parquet file with every column as nullable text.

    Text, not inferred types: a bad date or number in row 400,000 must become a quarantined
    row with a reason, not a failed read or a silently coerced value. Left out, the encoding
    (UTF-8 with or without a BOM, else Windows-1252) and the delimiter are detected.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffixes = "".join(path.suffixes[-2:]).lower()
    try:
        if suffixes.endswith(".parquet"):
            return RawTable(pd.read_parquet(path).astype("string").reset_index(drop=True), path.name, self_describing=True)
        if suffixes.endswith((".csv", ".csv.gz", ".txt", ".txt.gz", ".tsv", ".tsv.gz")):
            return _read_csv(path, encoding, delimiter)
        raise InputError(f"{path}: unsupported file type; use .csv, .csv.gz, .tsv or .parquet")
    except InputError:
        raise
    except Exception as exc:  # any reader failure is the same story for the user: unreadable
        raise InputError(f"{path}: cannot be read: {exc}") from exc


CSV_DELIMITERS = (",", ";", "\t", "|")


def _open_text(path: Path, encoding: str):
    return (gzip.open if path.suffix.lower() == ".gz" else open)(path, "rt", encoding=encoding, newline="")


def _read_csv(path: Path, encoding: str | None, delimiter: str | None) -> RawTable:
    encodings = [encoding] if encoding else ["utf-8-sig", "cp1252"]
    for attempt in encodings:
        # utf-8-sig reads plain UTF-8 too, and drops the BOM an Excel export starts with.
        attempt = "utf-8-sig" if attempt.lower().replace("_", "-") in ("utf-8", "utf8") else attempt
        try:
            with _open_text(path, attempt) as handle:
                header = handle.readline()
            sep = delimiter or max(CSV_DELIMITERS, key=header.count)
            try:
                frame = pd.read_csv(path, sep=sep, dtype="string", keep_default_na=False, na_values=[""], encoding=attempt)
                return RawTable(frame.reset_index(drop=True), path.name)
            except pd.errors.ParserError:
                return _read_csv_row_by_row(path, attempt, sep)
        except UnicodeDecodeError:
            if attempt == encodings[-1]:
                raise
    raise AssertionError("unreachable")


def _read_csv_row_by_row(path: Path, encoding: str, delimiter: str) -> RawTable:
    """The slow path for a file with rows that do not split into the header's columns: each such
    row is kept (cut or padded to the header) and marked, so that it is quarantined, not lost."""
    with _open_text(path, encoding) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader)
        rows, malformed = [], []
        for fields in reader:
            if not fields:
                continue  # a blank line is no row, as for the fast reader
            malformed.append(len(fields) != len(header))
            rows.append((fields + [None] * len(header))[: len(header)])
    frame = pd.DataFrame(rows, columns=header, dtype="string").replace("", pd.NA)
    return RawTable(frame, path.name, malformed=pd.Series(malformed, index=frame.index, dtype=bool))


def require_columns(frame: pd.DataFrame, mapping: dict[str, str], path: str | Path, section: str) -> None:
    missing = {key: column for key, column in mapping.items() if column not in frame.columns}
    if missing:
        key, column = next(iter(missing.items()))
        raise InputError(
            f"{path}: column {column!r} (params {section}.{key}) not found; "
            f"the file has columns {list(frame.columns)}"
        )


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` in one step."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates owner-only files; an output is as readable as any file the user writes.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_parquet(frame: pd.DataFrame, target: str | Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)


def write_csv(frame: pd.DataFrame, target: str | Path, float_format: str | None = None, lineterminator: str = "\n") -> None:
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8", lineterminator=lineterminator, float_format=float_format)


SPREADSHEET_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text that a spreadsheet would run as a formula, prefixed with ' so it shows as text.

    Only text columns: a negative number is a number, not a formula. Text that reads as a
    signed number (an id "+1") is escaped too, so that it stays the text it was.
    """
    safe = frame.copy()
    for column in safe.columns:
        if pd.api.types.is_object_dtype(safe[column]) or pd.api.types.is_string_dtype(safe[column]):
            text = safe[column]
            risky = text.notna() & text.astype("string").str.startswith(SPREADSHEET_FORMULA_STARTS).fillna(False)
            safe[column] = text.where(~risky, "'" + text.astype("string"))
    return safe


def write_spreadsheet_csv(frame: pd.DataFrame, target: str | Path) -> None:
    """A CSV for people who open it in a spreadsheet: UTF-8, formulas neutralised, written atomically.

    Lines end in CRLF as RFC 4180 has it, which also makes the writer quote any text holding a
    line break or a lone carriage return, so no cell can split a row.
    """
    write_csv(neutralise_formulas(frame), target, lineterminator="\r\n")


def write_json(payload: dict, target: str | Path) -> None:
    write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", target)


def write_text(text: str, target: str | Path) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


STAGING = Path(".staging")
_COMMIT = "COMMIT"


class Publication:
    """A stage's outputs, written aside and put in place together.

    The stage writes each output (file or folder) at `staged(target)`. `commit` first writes
    the list of targets in one step, the commit point, then moves each into place. A run
    killed before the commit point is discarded by the next run, one killed after it is
    finished by the next run: either way the outputs are all old or all new.
    """

    def __init__(self, stage: str):
        self.root = STAGING / stage
        self.targets: list[str] = []
        self.removed: list[str] = []

    def staged(self, target: str | Path) -> Path:
        path = self.root / "new" / target
        path.parent.mkdir(parents=True, exist_ok=True)
        self.targets.append(str(target))
        return path

    def remove(self, target: str | Path) -> None:
        """`target` is no output of this run: it goes when the others arrive."""
        self.removed.append(str(target))

    def commit(self) -> None:
        write_text(json.dumps({"targets": self.targets, "removed": self.removed}), self.root / _COMMIT)
        _roll_forward(self.root)


def _roll_forward(root: Path) -> None:
    plan = json.loads((root / _COMMIT).read_text(encoding="utf-8"))
    for target in plan["targets"]:
        new, target_path = root / "new" / target, Path(target)
        if not new.exists():
            continue  # moved before an interruption
        target_path.parent.mkdir(parents=True, exist_ok=True)
        if target_path.is_dir():  # a folder cannot be replaced in one call: the old one is moved aside first
            old = root / "old" / target
            shutil.rmtree(old, ignore_errors=True)
            old.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target_path, old)
        os.replace(new, target_path)
    for target in plan["removed"]:
        target_path = Path(target)
        shutil.rmtree(target_path) if target_path.is_dir() else target_path.unlink(missing_ok=True)
    _clear(root)


def _clear(root: Path) -> None:
    """Remove a stage's staging folder, and the staging folder itself once no stage has anything in it."""
    shutil.rmtree(root, ignore_errors=True)
    with contextlib.suppress(OSError):
        STAGING.rmdir()


def recover(stage: str) -> None:
    """Finish the last run of `stage` if it passed its commit point, else discard what it left."""
    root = STAGING / stage
    if (root / _COMMIT).is_file():
        _roll_forward(root)
    else:
        _clear(root)


@contextlib.contextmanager
def publishing(stage: str) -> Iterator[Publication]:
    """A `Publication` for `stage`, committed when the block completes, discarded if it fails."""
    recover(stage)
    publication = Publication(stage)
    try:
        yield publication
    except BaseException:
        _clear(publication.root)
        raise
    publication.commit()
