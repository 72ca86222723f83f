"""One feature definition for every engine: the same snapshot on local Spark and on DuckDB."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from features import sources as cleaners
from features.snapshots import Sources, snapshot
from pipeline.config import CustomersSource, EventsSource, SubscriptionsSource, TransactionsSource, load_params
from pipeline.featurize import connect, write_table
from pipeline.files import RawTable, read_raw_table
from tests.conftest import EMBEDDED_TRANSACTIONS, ROOT, default_parsing, shared_file

# CI installs the spark extra: there a missing pyspark is a failure, not a skip.
if not os.environ.get("CI"):
    pytest.importorskip("pyspark")


SOURCE_TYPES = {
    "transactions": TransactionsSource,
    "events": EventsSource,
    "subscriptions": SubscriptionsSource,
    "customers": CustomersSource,
}


@pytest.fixture(scope="module")
def spark():
    con = connect(load_params(ROOT / "params.yaml").features.model_copy(update={"engine": "spark", "spark_master": "local[2]"}))
    yield con
    con._session.stop()


def write_clean(tmp_path: Path, name: str, kind: str, raw: RawTable, source) -> Path:
    path = tmp_path / f"{name}.parquet"
    cleaners.clean_source(kind, raw, source, default_parsing()).clean.to_parquet(path)
    return path


def retail_tables(tmp_path: Path) -> dict[str, Path]:
    raw = read_raw_table(EMBEDDED_TRANSACTIONS)
    raw = replace(raw, frame=raw.frame[raw.frame["CustomerID"].fillna("").str.endswith("3")].reset_index(drop=True))
    source = load_params(ROOT / "params.yaml").data.transactions
    return {"transactions": write_clean(tmp_path, "retail", "transactions", raw, source)}


def churnsim_tables(tmp_path: Path) -> dict[str, Path]:
    """Every tenth account of the subscription product, from all four kinds of source."""
    data = yaml.safe_load((ROOT / "configs" / "churnsim.yaml").read_text())["data"]
    tables = {}
    for kind, mapping in data.items():
        source = SOURCE_TYPES[kind].model_validate(mapping)
        raw = read_raw_table(shared_file(*Path(mapping["path"]).parts[3:]))
        raw = replace(raw, frame=raw.frame[pd.to_numeric(raw.frame[source.customer_id]) % 10 == 0].reset_index(drop=True))
        tables[kind] = write_clean(tmp_path, kind, kind, raw, source)
    return tables


def snapshot_on(con, tables: dict[str, Path], cutoff: dt.datetime, horizon_days: int, target: Path) -> pd.DataFrame:
    """The snapshot as the features stage writes it, with `con` as its engine."""
    loaded = {kind: con.read_parquet(path) for kind, path in tables.items()}
    event_types = ()
    if "events" in loaded:
        event_types = tuple(sorted(pd.read_parquet(tables["events"], columns=["event_type"])["event_type"].unique()))
    write_table(con, snapshot(Sources(event_types=event_types, **loaded), cutoff, [30, 90, 365], horizon_days), target)
    return pd.read_parquet(target).sort_values("customer_id").reset_index(drop=True)


@pytest.mark.parametrize(
    ("tables", "cutoff", "horizon_days"),
    [(retail_tables, dt.datetime(2011, 9, 1), 90), (churnsim_tables, dt.datetime(2020, 9, 1), 60)],
    ids=["online_retail", "churnsim_all_sources"],
)
def test_spark_computes_the_same_snapshot_as_duckdb(spark, tmp_path, tables, cutoff, horizon_days):
    paths = tables(tmp_path)
    on_duckdb = snapshot_on(connect(load_params(ROOT / "params.yaml").features), paths, cutoff, horizon_days, tmp_path / "duckdb.parquet")
    on_spark = snapshot_on(spark, paths, cutoff, horizon_days, tmp_path / "spark.parquet")
    assert len(on_duckdb) > 100
    assert list(on_spark.columns) == list(on_duckdb.columns)
    on_spark["cutoff"] = on_spark["cutoff"].astype(on_duckdb["cutoff"].dtype)  # Spark writes ns, DuckDB us
    pd.testing.assert_frame_equal(on_duckdb, on_spark, check_dtype=False, rtol=1e-9)
