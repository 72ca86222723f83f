"""The labelled snapshots a train stage learns from (data/features/training.parquet), sampled past a size.

Past `train.rows_per_cutoff` customers at a cutoff a model learns from a weighted sample of them
(models/sampling.py); the backtest still judges every customer of a fold's cutoff (`at_cutoff`),
and `churn score` scores everyone. The sample is drawn from three columns of the file, which is
then read a row group at a time keeping only the sampled rows: memory follows the sample.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from models import backtest
from models.sampling import KEYS, WEIGHT, sampled_rows


def read(path: Path, rows_per_cutoff: int | None, seed: int) -> pd.DataFrame:
    """Every labelled snapshot, or past `rows_per_cutoff` customers at a cutoff, the weighted sample."""
    chosen = None if rows_per_cutoff is None else sampled_rows(pd.read_parquet(path, columns=KEYS), rows_per_cutoff, seed)
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
