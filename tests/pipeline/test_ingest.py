"""Ingest reads a file in batches: the tables must not depend on where the batches split, nor on
which reader (DuckDB, or Python's csv module for what DuckDB cannot read) reads the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.sources import clean_source
from pipeline import config, files, ingest
from tests.conftest import EMBEDDED_TRANSACTIONS, ROOT, default_parsing

PARAMS = config.load_params(ROOT / "params.yaml")


def retail_sample(tmp_path: Path) -> Path:
    """3,000 real lines of Online Retail, with copies of earlier lines and an order id reused, spread over the file."""
    lines = pd.read_csv(EMBEDDED_TRANSACTIONS, dtype=str, nrows=3000, keep_default_na=False)
    copies = lines.iloc[[5, 17, 900, 2500]]
    reused = lines.iloc[[40]].assign(InvoiceDate="2011-06-01 09:00:00")  # its id, months later
    sample = pd.concat([lines.iloc[:1000], copies, lines.iloc[1000:], reused, copies], ignore_index=True)
    path = tmp_path / "online_retail.csv.gz"  # the name its cleaning rules are written for
    sample.to_csv(path, index=False)
    return path


def ingested(path: Path, tmp_path: Path, name: str, **parse) -> tuple[pd.DataFrame, bytes, dict]:
    source = PARAMS.data.transactions.model_copy(update={"path": str(path)})
    folder = tmp_path / name
    folder.mkdir()
    summary = ingest.ingest_source("transactions", source, PARAMS.data.parse.model_copy(update=parse),
                                   folder / "clean.parquet", folder / "quarantine.csv", folder)
    assert sorted(item.name for item in folder.iterdir()) == ["clean.parquet", "quarantine.csv"]  # nothing else left
    return pd.read_parquet(folder / "clean.parquet"), (folder / "quarantine.csv").read_bytes(), summary


@pytest.mark.parametrize("batch_rows", [97, 1000])
def test_the_tables_do_not_depend_on_where_the_batches_split(tmp_path, monkeypatch, batch_rows):
    path = retail_sample(tmp_path)
    whole = ingested(path, tmp_path, "whole")
    monkeypatch.setattr(ingest, "BATCH_ROWS", batch_rows)
    batched = ingested(path, tmp_path, "batched")
    pd.testing.assert_frame_equal(batched[0], whole[0])
    assert batched[1] == whole[1]
    assert batched[2] == whole[2]
    quarantine = pd.read_csv(tmp_path / "whole" / "quarantine.csv", dtype="string").set_index("source_row")
    copies = ["1001", "1002", "1003", "2505", "3006", "3007", "3008", "3009"]  # the later of two, whichever batch the first is in
    assert quarantine.loc[copies, "reason"].str.contains("duplicate row").all()
    assert whole[0]["order_id"].str.endswith("#2").sum() == 1  # the reused id is an order of its own


def test_the_file_in_memory_gives_the_same_tables_as_the_file_on_disk(tmp_path):
    path = retail_sample(tmp_path)
    clean, _, summary = ingested(path, tmp_path, "disk")
    in_memory = clean_source("transactions", files.read_raw_table(path), PARAMS.data.transactions.model_copy(update={"path": str(path)}),
                             default_parsing())
    pd.testing.assert_frame_equal(in_memory.clean, clean)
    assert in_memory.summary == {key: value for key, value in summary.items() if key != "first_quarantined"}


def test_both_readers_give_the_same_tables(tmp_path):
    path = retail_sample(tmp_path)
    assert files.open_raw_file(path).kind == "csv"
    assert files.open_raw_file(path, encoding="latin-1").kind == "csv-rows"
    by_duckdb = ingested(path, tmp_path, "duckdb")
    by_csv_module = ingested(path, tmp_path, "csv-module", encoding="latin-1")  # the text is ASCII: one meaning in both
    pd.testing.assert_frame_equal(by_csv_module[0], by_duckdb[0])
    assert by_csv_module[1] == by_duckdb[1]
    assert by_csv_module[2] == by_duckdb[2]
