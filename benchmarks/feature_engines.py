"""Feature stage at scale: our Ibis-on-DuckDB snapshot against lifetimes and pandas, side by side.

    python -m benchmarks.feature_engines               # 10 M and 50 M rows, 3 repeats each
    python -m benchmarks.feature_engines --sizes 10 --repeats 1

Generates transaction logs in the pipeline's clean schema (skewed activity: lognormal order
rates over 100,000 customers per million rows; orders of a geometric number of lines, by
default 4 and 1; Zipf-like products), then runs every engine in a fresh process and prints
one table: median time to read and compute (imports excluded), rows/s and peak memory (max
RSS of that process). The feature stage's cost follows orders more than lines: one line per
order is its worst case.

- features: the pipeline's scoring snapshot (features/snapshots.py, every transaction feature
  at 4 windows) written to Parquet by DuckDB with memory_limit=2GB and 2 threads;
- lifetimes: `summary_data_from_transaction_data` (recency, frequency, T, monetary only) on the
  same file read into pandas;
- pandas: a groupby computing the same four columns, the plain-pandas baseline;
- breadth (only with `--engines breadth`): the one block of the feature stage that groups lines
  by customer and product (`features.rfm.product_breadth`), alone. Its time is a floor for the
  whole stage, which groups the same lines by order as well.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.measure import in_fresh_process, peak_rss_gb

CUSTOMERS_PER_MILLION_ROWS = 100_000
START = dt.datetime(2022, 1, 1)
SPAN_DAYS = 730
CUTOFF = START + dt.timedelta(days=SPAN_DAYS)
CHUNK = 5_000_000


def generate(path: Path, rows: int, lines_per_order: float, ids: pa.DataType, seed: int = 7) -> None:
    """A clean transaction log of `rows` lines in orders of `lines_per_order` lines on average
    (geometric), written in chunks so memory stays flat. Customer, order and product ids are
    strings, as in the clean schema, or another Arrow type to measure what keys cost."""
    rng = np.random.default_rng(seed)
    customers = rows * CUSTOMERS_PER_MILLION_ROWS // 1_000_000
    activity = rng.lognormal(mean=0.0, sigma=1.2, size=customers)  # a few heavy buyers, many light ones
    activity /= activity.sum()
    schema = pa.schema([
        ("customer_id", ids), ("timestamp", pa.timestamp("us")), ("order_id", ids), ("product", ids),
        ("quantity", pa.float64()), ("amount", pa.float64()),
        ("is_return", pa.bool_()), ("returned_order_id", ids), ("source_row", pa.int64()),
    ])
    next_order = 0
    with pq.ParquetWriter(path, schema) as writer:
        for offset in range(0, rows, CHUNK):
            n = min(CHUNK, rows - offset)
            lines = rng.geometric(1 / lines_per_order, size=int(n / lines_per_order) + 1_000)
            lines = lines[: np.searchsorted(np.cumsum(lines), n) + 1]
            lines[-1] -= lines.sum() - n
            orders = len(lines)
            order_customer = rng.choice(customers, size=orders, p=activity)
            order_seconds = rng.integers(0, SPAN_DAYS * 86_400, size=orders)
            order_return = rng.random(orders) < 0.02
            customer = np.repeat(order_customer, lines)
            seconds = np.repeat(order_seconds, lines)
            is_return = np.repeat(order_return, lines)
            order = np.repeat(np.arange(next_order, next_order + orders), lines)
            next_order += orders
            product = np.minimum(rng.zipf(1.3, size=n), 5_000)
            quantity = rng.integers(1, 13, size=n).astype(float)
            sign = np.where(is_return, -1.0, 1.0)
            amount = np.round(quantity * rng.lognormal(1.0, 0.8, size=n), 2) * sign
            table = pa.table({
                "customer_id": pa.array(customer).cast(ids),
                "timestamp": pa.array(np.datetime64(START, "us") + seconds.astype("timedelta64[s]")),
                "order_id": pa.array(order).cast(ids),
                "product": pa.array(product).cast(ids),
                "quantity": pa.array(quantity * sign),
                "amount": pa.array(amount),
                "is_return": pa.array(is_return),
                # Generated returns take back no order of the log: they are returns of older orders.
                "returned_order_id": pa.nulls(n, ids),
                "source_row": pa.array(np.arange(offset + 1, offset + n + 1)),
            }, schema=schema)
            writer.write_table(table, row_group_size=1_000_000)


def _duckdb_table(data: Path):
    """The log as an Ibis table on DuckDB, with the feature stage's memory limit and the machine's 2 cores."""
    import ibis

    return ibis.duckdb.connect(memory_limit="2GB", threads=2).read_parquet(data)


def _rows_written(expr) -> int:
    """Writes `expr` to Parquet, as the pipeline does, and counts the rows written."""
    with tempfile.TemporaryDirectory() as folder:
        expr.to_parquet(Path(folder) / "out.parquet")
        return pq.read_metadata(Path(folder) / "out.parquet").num_rows


def measure_features(data: Path) -> int:
    from features.snapshots import Sources, snapshot

    return _rows_written(snapshot(Sources(transactions=_duckdb_table(data)), CUTOFF, [30, 90, 180, 365]))


def measure_breadth(data: Path) -> int:
    from features.rfm import product_breadth, timestamp

    lines = _duckdb_table(data)
    purchases = lines.filter((lines.timestamp < timestamp(CUTOFF)) & ~lines.is_return)
    return _rows_written(product_breadth(purchases).order_by("customer_id"))


def _purchases(data: Path):
    import pandas as pd

    frame = pd.read_parquet(data, columns=["customer_id", "timestamp", "amount", "is_return"])
    return frame[~frame["is_return"]]


def measure_lifetimes(data: Path) -> int:
    from lifetimes.utils import summary_data_from_transaction_data

    summary = summary_data_from_transaction_data(
        _purchases(data), "customer_id", "timestamp", monetary_value_col="amount", observation_period_end=CUTOFF, freq="D"
    )
    return len(summary)


def measure_pandas(data: Path) -> int:
    frame = _purchases(data)
    days = frame.assign(day=frame["timestamp"].dt.floor("D")).groupby(["customer_id", "day"], sort=False)["amount"].sum()
    per_customer = days.reset_index().groupby("customer_id", sort=False).agg(
        first=("day", "min"), last=("day", "max"), purchase_days=("day", "size"), monetary=("amount", "mean")
    )
    cutoff = np.datetime64(CUTOFF)
    summary = per_customer.assign(
        frequency=per_customer["purchase_days"] - 1,
        recency=(per_customer["last"] - per_customer["first"]).dt.days,
        T=(cutoff - per_customer["first"]).dt.days,
    )
    return len(summary)


ENGINES = {"features": measure_features, "lifetimes": measure_lifetimes, "pandas": measure_pandas, "breadth": measure_breadth}
BY_DEFAULT = ["features", "lifetimes", "pandas"]
ID_TYPES = {"string": pa.string(), "int64": pa.int64()}
# Imported before the clock starts: the table compares computing, not interpreter start-up.
IMPORTS = {"features": ["ibis", "features.snapshots"], "lifetimes": ["pandas", "lifetimes.utils"], "pandas": ["pandas"], "breadth": ["ibis", "features.rfm"]}


def run_once(engine: str, data: Path) -> tuple[float, float, int]:
    """Wall seconds (read + compute), peak RSS in GB and output rows of one engine in a fresh process."""
    rows, seconds, peak = in_fresh_process("feature_engines", "--measure", engine, "--data", str(data))
    return float(seconds), float(peak), int(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50], help="millions of rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lines-per-order", type=float, nargs="+", default=[4.0, 1.0],
                        help="mean basket size of the generated logs; 1 = every line its own order (the worst case)")
    parser.add_argument("--engines", nargs="+", default=BY_DEFAULT, choices=list(ENGINES))
    parser.add_argument("--ids", nargs="+", default=["string"], choices=list(ID_TYPES),
                        help="type of the customer, order and product ids; the clean schema holds strings")
    parser.add_argument("--workdir", type=Path, default=None, help="where the generated logs go (default: a temp dir)")
    parser.add_argument("--measure", choices=list(ENGINES), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        for module in IMPORTS[args.measure]:
            importlib.import_module(module)
        start = time.perf_counter()
        rows = ENGINES[args.measure](args.data)
        print(rows, time.perf_counter() - start, peak_rss_gb())
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="features-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} cores; logs in {workdir}; median of {args.repeats} runs, each in a fresh process\n")
    header = f"| {'rows':>5} | {'lines/order':>11} | {'ids':>6} | {'customers':>9} | {'engine':<9} | {'median s':>8} | {'M rows/s':>8} | {'peak GB':>7} | {'vs features':>11} |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for millions, basket, ids in ((m, b, i) for m in args.sizes for b in args.lines_per_order for i in args.ids):
        rows = millions * 1_000_000
        suffix = "" if ids == "string" else f"_{ids}ids"
        data = workdir / f"transactions_{millions}m_{basket:g}lines{suffix}.parquet"
        if not data.exists():
            generate(data, rows, basket, ID_TYPES[ids])
        medians = {}
        for engine in args.engines:
            runs = [run_once(engine, data) for _ in range(args.repeats)]
            seconds = statistics.median(run[0] for run in runs)
            peak = max(run[1] for run in runs)
            medians[engine] = seconds
            ratio = f"{seconds / medians['features']:.1f}x" if "features" in medians else "-"
            print(f"| {millions:>4}M | {basket:>11g} | {ids:>6} | {runs[0][2]:>9,} | {engine:<9} | {seconds:>8.1f} | {rows / seconds / 1e6:>8.2f} | {peak:>7.2f} | {ratio:>11} |", flush=True)


if __name__ == "__main__":
    main()
