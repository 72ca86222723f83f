"""Reading inputs and writing outputs: the edges of the pipeline.

Every writer goes through `atomic_path`, so a run that dies midway leaves the previous
file in place, never half of a new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class InputError(Exception):
    """An input cannot be used at all; the message names the file and, where it can, the column."""


def read_raw_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, CSV.gz or Parquet file with every column as nullable text.

    Text, not inferred types: a bad date or number in row 400,000 must become a quarantined
    row with a reason, not a failed read or a silently coerced value.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffixes = "".join(path.suffixes[-2:]).lower()
    try:
        if suffixes.endswith(".parquet"):
            frame = pd.read_parquet(path).astype("string")
        elif suffixes.endswith((".csv", ".csv.gz", ".txt", ".txt.gz")):
            frame = pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""])
        else:
            raise InputError(f"{path}: unsupported file type; use .csv, .csv.gz or .parquet")
    except InputError:
        raise
    except Exception as exc:  # any reader failure is the same story for the user: unreadable
        raise InputError(f"{path}: cannot be read: {exc}") from exc
    return frame.reset_index(drop=True)


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

    Only text columns: a negative number is a number, not a formula.
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
