"""Ingest: read, cast and check every row of a user's file, timed on real and generated files.

    python -m benchmarks.ingest                   # the embedded Online Retail file, and 1 M and 5 M generated rows
    python -m benchmarks.ingest --sizes 1 --repeats 1

Each run is a fresh process: wall seconds, CPU seconds and peak RSS (imports excluded from the
times, not from the memory). Generated files have Online Retail's columns and mess: 1% of
rows lack a customer id, 0.1% carry an unparseable date, 0.1% are exact duplicates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from benchmarks.measure import ROOT, in_fresh_process, peak_rss_gb

CHUNK = 1_000_000


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """An Online Retail-like CSV of `rows` lines, written in chunks so memory stays flat."""
    rng = np.random.default_rng(seed)
    customers = max(rows // 10, 1)
    start = np.datetime64("2022-01-01T00:00")
    with pacsv.CSVWriter(path, pa.schema([(name, pa.string()) for name in
                                          ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")])) as writer:
        for offset in range(0, rows, CHUNK):
            n = min(CHUNK, rows - offset)
            customer = rng.integers(10_000, 10_000 + customers, n).astype(str)
            customer[rng.random(n) < 0.01] = ""
            minutes = rng.integers(0, 730 * 24 * 60, n)
            stamp = np.datetime_as_string(start + minutes.astype("timedelta64[m]"), unit="s").astype(object)
            stamp[rng.random(n) < 0.001] = "not a date"
            columns = {
                "InvoiceNo": (offset + np.arange(n)) // 4 + 500_000,
                "StockCode": rng.integers(10_000, 14_000, n),
                "Quantity": rng.integers(1, 13, n),
                "InvoiceDate": stamp,
                "UnitPrice": np.round(rng.gamma(2.0, 2.0, n), 2),
                "CustomerID": customer,
            }
            table = pa.table({name: pa.array(np.asarray(values).astype(str)) for name, values in columns.items()})
            duplicated = np.flatnonzero(rng.random(n) < 0.001)
            writer.write_table(pa.concat_tables([table, table.take(duplicated)]) if len(duplicated) else table)


def measure(path: Path, checkout: Path) -> tuple[int, float, float, float]:
    """Rows in, wall and CPU seconds and peak RSS of the ingest stage on `path` with the embedded data's mapping,
    run in an empty folder: reading, cleaning and writing its outputs, by `checkout`'s code with its params."""
    sys.path.insert(0, str(checkout))  # that checkout's packages before the installed ones: the code measured
    from pipeline import config, ingest

    params = config.load_params(checkout / "params.yaml")
    source = params.data.transactions.model_copy(update={"path": str(path.resolve())})
    params = params.model_copy(update={"data": params.data.model_copy(update={"transactions": source})})
    with tempfile.TemporaryDirectory(prefix="ingest-measure-") as folder:
        os.chdir(folder)
        wall, cpu = time.perf_counter(), time.process_time()
        metrics = ingest.run(params)
        return metrics["transactions"]["rows_in"], time.perf_counter() - wall, time.process_time() - cpu, peak_rss_gb()



def run_once(path: Path, checkout: Path = ROOT) -> tuple[int, float, float, float]:
    """One measurement in a fresh process, of this checkout or of another one (`--against`)."""
    rows, wall, cpu, peak = in_fresh_process("ingest", "--measure", str(path), checkout=checkout)
    return int(rows), float(wall), float(cpu), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 5], help="millions of generated rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--against", type=Path, help="an earlier checkout of this project (git worktree add DIR REV), measured side by side")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--checkout", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(*measure(args.measure, args.checkout))
        return
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as folder:
        workdir = Path(folder)
        files = {"Online Retail (embedded)": ROOT / "data/raw/online_retail.csv.gz"}
        for millions in args.sizes:
            path = workdir / f"generated_{millions}m.csv"
            generate(path, millions * 1_000_000)
            files[f"generated, {millions} M rows"] = path
        from pipeline import config

        limit = config.load_params(ROOT / "params.yaml").features.memory_limit
        print(f"{os.cpu_count()} cores, {dt.date.today()}; median of {args.repeats} runs, each in a fresh process; "
              f"features.memory_limit {limit}\n")
        checkouts = {"this checkout": ROOT} | ({f"{args.against}": args.against.resolve()} if args.against else {})
        print("| file | code | rows in | wall s | CPU s | rows/s | peak RSS GB | wall vs this checkout |")
        print("|---|---|---|---|---|---|---|---|")
        for name, path in files.items():
            walls = {}
            for code, checkout in checkouts.items():
                runs = [run_once(path, checkout) for _ in range(args.repeats)]
                wall, cpu = statistics.median(run[1] for run in runs), statistics.median(run[2] for run in runs)
                walls[code] = wall
                print(f"| {name} | {code} | {runs[0][0]:,} | {wall:.1f} | {cpu:.1f} | {runs[0][0] / wall:,.0f} | "
                      f"{max(run[3] for run in runs):.2f} | {wall / walls['this checkout']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
