"""The labelled snapshots a train stage learns from (data/features/training.parquet), sampled past a size.

The cost of a fit grows with its rows; what a model learns from them stops growing long before
(benchmarks/sampling.py). Past `train.rows_per_cutoff` customers at a cutoff, a model learns from
a sample of them:

- stratified by the churn outcome, so each cutoff keeps its churn rate;
- drawn by a hash of the customer id and `train.seed`: the same rows on every run;
- each row weighted by the customers it stands for (models/training.py::WEIGHT), so that every
  cutoff and outcome weighs in the fits and the calibration what it does in full.

The backtest still judges every customer of a fold's cutoff (`at_cutoff`), and `churn score`
scores everyone. The file is read a row group at a time and only the sampled rows are kept, so
memory follows the sample, not the file.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from models import backtest
from models.training import WEIGHT

# Per cutoff and outcome: each row's place in the seeded hash order, and how many rows that stratum keeps.
SAMPLE = """
WITH ranked AS (
    SELECT file_row_number,
           count(*) OVER (PARTITION BY cutoff, churned) AS stratum,
           ceil(count(*) OVER (PARTITION BY cutoff, churned) * least(1.0, $rows / count(*) OVER (PARTITION BY cutoff))) AS kept,
           row_number() OVER (PARTITION BY cutoff, churned ORDER BY hash(customer_id, $seed), customer_id) AS place
    FROM read_parquet($path, file_row_number = true)
)
SELECT file_row_number, stratum / kept AS weight FROM ranked WHERE place <= kept ORDER BY file_row_number
"""


def sample(path: Path, rows_per_cutoff: int, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of the file to learn from and their weights; None where no cutoff holds more than `rows_per_cutoff`."""
    with duckdb.connect() as con:
        largest = con.execute("SELECT max(n) FROM (SELECT count(*) AS n FROM read_parquet($path) GROUP BY cutoff)", {"path": str(path)}).fetchone()[0]
        if largest is None or largest <= rows_per_cutoff:
            return None
        kept = con.execute(SAMPLE, {"path": str(path), "rows": rows_per_cutoff, "seed": seed}).fetchnumpy()
    return np.asarray(kept["file_row_number"], dtype=np.int64), np.asarray(kept["weight"], dtype=float)


def read(path: Path, rows_per_cutoff: int | None, seed: int) -> pd.DataFrame:
    """Every labelled snapshot, or past `rows_per_cutoff` customers at a cutoff, the weighted sample (module docstring)."""
    chosen = None if rows_per_cutoff is None else sample(path, rows_per_cutoff, seed)
    if chosen is None:
        return pd.read_parquet(path)
    rows, weights = chosen
    parquet, parts, start = pq.ParquetFile(path), [], 0
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group)
        inside = rows[(rows >= start) & (rows < start + table.num_rows)] - start
        parts.append(table.take(pa.array(inside)))
        start += table.num_rows
    return pa.concat_tables(parts).to_pandas().reset_index(drop=True).assign(**{WEIGHT: weights})


def at_cutoff(path: Path, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Every customer's snapshot at `cutoff`."""
    return pd.read_parquet(path, filters=[("cutoff", "==", pd.Timestamp(cutoff))])


def backtest_folds(path: Path, training: pd.DataFrame, horizon_days: int, count: int) -> list[backtest.Fold]:
    """The backtest folds of `training` as `read` read it from `path`: where it is a sample, each fold
    learns from the sample and is judged on every customer at its cutoff."""
    return backtest.folds(training, horizon_days, count, partial(at_cutoff, path) if WEIGHT in training else None)
