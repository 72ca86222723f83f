"""Reading inputs and writing outputs: the edges of the pipeline.

Every writer goes through `atomic_path`, so a run that dies midway leaves the previous
file in place, never half of a new one; a stage's outputs are published together
(`publishing`), so it never leaves some new and some old.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class InputError(Exception):
    """An input cannot be used at all; the message names the file and, where it can, the column."""


@dataclass(frozen=True)
class RawTable:
    """Rows of a user's file as read: every column as text, indexed by the row's position among the file's data rows."""

    frame: pd.DataFrame
    file: str
    """The file's name, as the quarantine names it."""
    malformed: pd.Series | None = None
    """Rows with more fields than the header (cut to fit), if any."""


CSV_DELIMITERS = (",", ";", "\t", "|")
CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz", ".tsv", ".tsv.gz")
_UTF8 = ("utf-8", "utf8", "utf-8-sig")


@dataclass(frozen=True)
class RawFile:
    """A user's file, checked readable and read in batches of rows, so that any size fits in memory.

    Every value is read as text, not as an inferred type: a bad date or number in row 400,000
    must become a quarantined row with a reason, not a failed read or a silently coerced value.
    CSV (plain or gzip) and Parquet are read by DuckDB; a CSV that DuckDB cannot read (not UTF-8,
    a short or long line, a stray quote) by Python's csv module, which keeps every row.
    """

    path: Path
    columns: tuple[str, ...]
    kind: str
    """"parquet" (typed: its numbers are written with a dot, whatever `data.parse` says), "csv" (DuckDB)
    or "csv-rows" (Python's csv module)"""
    encoding: str = "utf-8"
    delimiter: str = ","

    @property
    def file(self) -> str:
        return self.path.name

    def batches(self, rows: int) -> Iterator[RawTable]:
        """The file's rows, `rows` at a time (at least one batch, empty for a file with a header only)."""
        reader = self._csv_rows(rows) if self.kind == "csv-rows" else self._duckdb(rows)
        offset = 0
        try:
            for batch in reader:
                batch.frame.index = pd.RangeIndex(offset, offset + len(batch.frame))
                if batch.malformed is not None:
                    batch.malformed.index = batch.frame.index
                offset += len(batch.frame)
                yield batch
        except InputError:
            raise
        except Exception as exc:  # a file that changes or breaks while it is read
            raise InputError(f"{self.path}: cannot be read: {_first_line(exc)}") from exc
        if offset == 0:
            yield RawTable(pd.DataFrame({name: pd.Series(dtype="string") for name in self.columns}), self.file)

    def _relation(self, con):
        if self.kind == "parquet":
            listed = ", ".join(f'CAST("{name.replace(chr(34), chr(34) * 2)}" AS VARCHAR)' for name in self.columns)
            return con.sql(f"SELECT {listed} FROM read_parquet($path)", params={"path": str(self.path)})
        return con.read_csv(
            str(self.path), header=True, auto_detect=False, columns={name: "VARCHAR" for name in self.columns},
            sep=self.delimiter, quotechar='"', escapechar='"', encoding="utf-8",
        )

    def _duckdb(self, rows: int) -> Iterator[RawTable]:
        with duckdb.connect(config={"threads": 1}) as con:
            for batch in self._relation(con).to_arrow_reader(rows):
                frame = batch.to_pandas().astype("string")
                frame.columns = list(self.columns)
                yield RawTable(frame, self.file)

    def _csv_rows(self, rows: int) -> Iterator[RawTable]:
        width = len(self.columns)
        with _open_text(self.path, self.encoding) as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            next(reader)
            while True:
                chunk = [fields for fields in itertools.islice(reader, rows) if fields]  # a blank line is no row
                if not chunk:
                    return
                # A short row lacks its last fields (left empty); a long one cannot be placed: it is marked.
                malformed = pd.Series([len(fields) > width for fields in chunk], dtype=bool)
                frame = pd.DataFrame([(fields + [None] * width)[:width] for fields in chunk], columns=list(self.columns), dtype="string")
                yield RawTable(frame.replace("", pd.NA), self.file, malformed=malformed if malformed.any() else None)


def open_raw_file(path: str | Path, encoding: str | None = None, delimiter: str | None = None) -> RawFile:
    """Check that `path` can be read and how: its type, columns, encoding and delimiter.

    Left out, the encoding (UTF-8 with or without a BOM, else Windows-1252) and the delimiter
    (the one of , ; tab | that the header holds most of) are detected.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffixes = "".join(path.suffixes[-2:]).lower()
    try:
        if suffixes.endswith(".parquet"):
            names = [name for name in pq.read_schema(path).names if not name.startswith("__index_level_")]
            return RawFile(path, tuple(names), "parquet")
        if suffixes.endswith(CSV_SUFFIXES):
            return _open_csv(path, encoding, delimiter)
    except InputError:
        raise
    except Exception as exc:  # any reader failure is the same story for the user: unreadable
        raise InputError(f"{path}: cannot be read: {_first_line(exc)}") from exc
    raise InputError(f"{path}: unsupported file type; use .csv, .csv.gz, .tsv or .parquet")


def read_raw_table(path: str | Path, encoding: str | None = None, delimiter: str | None = None) -> RawTable:
    """A whole file in one batch: for files that are small by nature, and for tests."""
    raw = open_raw_file(path, encoding, delimiter)
    (batch,) = raw.batches(rows=2**62)
    return batch


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _open_text(path: Path, encoding: str):
    # utf-8-sig reads plain UTF-8 too, and drops the BOM an Excel export starts with.
    encoding = "utf-8-sig" if encoding.lower().replace("_", "-") in _UTF8 else encoding
    return (gzip.open if path.suffix.lower() == ".gz" else open)(path, "rt", encoding=encoding, newline="")


def _header(path: Path, encoding: str, delimiter: str | None) -> tuple[tuple[str, ...], str]:
    with _open_text(path, encoding) as handle:
        line = handle.readline()
    if not line.strip():
        raise InputError(f"{path}: cannot be read: the file is empty (no header line)")
    sep = delimiter or max(CSV_DELIMITERS, key=line.count)
    names = next(csv.reader([line], delimiter=sep))
    seen: dict[str, int] = {}
    unique = []
    for name in names:  # a repeated column name gets a suffix, as pandas gives it: x, x.1, x.2
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if count == 0 else f"{name}.{count}")
    return tuple(unique), sep


def _open_csv(path: Path, encoding: str | None, delimiter: str | None) -> RawFile:
    if encoding and encoding.lower().replace("_", "-") not in _UTF8:
        columns, sep = _header(path, encoding, delimiter)
        return RawFile(path, columns, "csv-rows", encoding, sep)
    try:
        columns, sep = _header(path, "utf-8", delimiter)
    except UnicodeDecodeError:
        if encoding:
            raise
        columns, sep = _header(path, "cp1252", delimiter)
        return RawFile(path, columns, "csv-rows", "cp1252", sep)
    raw = RawFile(path, columns, "csv", "utf-8", sep)
    # One pass of DuckDB's parser over the whole file says whether its fast reader can keep every row.
    try:
        with duckdb.connect(config={"threads": 1}) as con:
            raw._relation(con).aggregate("count(*)").fetchall()
    except duckdb.Error as exc:
        # Not UTF-8, a short or long line, a line of megabytes, a stray quote: the csv module reads
        # what can be read of it, and a line it cannot place is quarantined as malformed.
        if "not utf-8 encoded" in str(exc) and not encoding:
            _header(path, "cp1252", delimiter)
            return replace(raw, kind="csv-rows", encoding="cp1252")
        return replace(raw, kind="csv-rows")
    return raw


def require_columns(columns: Iterable[str], mapping: dict[str, str], path: str | Path, section: str) -> None:
    columns = list(columns)
    missing = {key: column for key, column in mapping.items() if column not in columns}
    if missing:
        key, column = next(iter(missing.items()))
        raise InputError(
            f"{path}: column {column!r} (params {section}.{key}) not found; "
            f"the file has columns {columns}"
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


class SpreadsheetCsvWriter:
    """`write_spreadsheet_csv` for a table that arrives in parts: each part appended, the header once.

    For a target in a staging folder (`Publication.staged`), which is put in place only when whole.
    """

    def __init__(self, target: str | Path):
        self.target = Path(target)
        self.handle = None

    def __enter__(self) -> SpreadsheetCsvWriter:
        self.handle = open(self.target, "w", encoding="utf-8", newline="")
        self.header = True
        return self

    def write(self, frame: pd.DataFrame) -> None:
        neutralise_formulas(frame).to_csv(self.handle, index=False, header=self.header, lineterminator="\r\n")
        self.header = False

    def __exit__(self, *exc) -> None:
        self.handle.close()


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
