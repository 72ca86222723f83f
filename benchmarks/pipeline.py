"""The whole pipeline on a generated log: per stage, wall and CPU seconds and peak memory; then the models' backtest.

    python -m benchmarks.pipeline --sizes 1 10 50                # millions of transaction lines, default params
    python -m benchmarks.pipeline --sizes 0.2 --set train.n_trials=3

Each size: an Online Retail-like CSV of customers who buy and leave as Pareto/NBD says (`generate`:
CDNOW's fitted parameters, two years, about a tenth as many customers as lines), a clone of this repository's last commit whose params point at it, and
`dvc repro --single-item STAGE` for each stage in the order `dvc repro` runs them, each in its own
process: wall seconds, CPU seconds (the stage's processes, children included) and peak RSS (the
largest of them). Then the churn model's backtest ROC AUC and Gini (2 AUC - 1) and the value
model's normalised Gini, from reports/metrics. `--set` overrides params (dotted keys), as
`dvc exp run -S` does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import yaml

from benchmarks.measure import ROOT

SPAN_DAYS = 730
START = np.datetime64("2022-01-01T00:00")
# Pareto/NBD on CDNOW (Fader, Hardie and Lee 2005), in days: purchase rates ~ Gamma(r, alpha),
# dropout rates ~ Gamma(s, beta); so the churn and value models have something real to find.
R, ALPHA, S, BETA = 0.55, 10.58 * 7, 0.61, 11.67 * 7
LINES_PER_ORDER = 4.0
CHUNK_CUSTOMERS = 200_000


def generate(path: Path, rows: int, seed: int = 7) -> int:
    """An Online Retail-like CSV of about `rows` lines (the last customer's orders cut at `rows`) from
    customers who join at random over two years, buy at their own Poisson rate while alive and
    leave at their own exponential rate; each spends on their own scale. Returns the customers."""
    rng = np.random.default_rng(seed)
    columns = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")
    written, customers, next_order = 0, 0, 0
    with pacsv.CSVWriter(path, pa.schema([(name, pa.string()) for name in columns])) as writer:
        while written < rows:
            n = CHUNK_CUSTOMERS
            joined = rng.uniform(0, SPAN_DAYS, n)
            alive = np.minimum(rng.exponential(1 / rng.gamma(S, 1 / BETA, n)), SPAN_DAYS - joined)
            orders = 1 + rng.poisson(rng.gamma(R, 1 / ALPHA, n) * alive)  # the first purchase at joining
            customer = np.repeat(np.arange(customers, customers + n), orders)
            day = np.repeat(joined, orders) + np.where(
                np.arange(len(customer)) == np.repeat(np.cumsum(orders) - orders, orders), 0.0, rng.uniform(0, 1, len(customer)) * np.repeat(alive, orders))
            lines = rng.geometric(1 / LINES_PER_ORDER, len(customer))
            keep = np.searchsorted(np.cumsum(lines), rows - written) + 1  # the orders that reach `rows` lines
            customer, day, lines = customer[:keep], day[:keep], lines[:keep]
            line_order = np.repeat(np.arange(next_order, next_order + len(customer)), lines)
            count = len(line_order)
            price_scale = rng.gamma(2.0, 2.0, n)[np.repeat(customer, lines) - customers]
            minutes = (np.repeat(day, lines) * 24 * 60).astype("int64")
            table = pa.table({
                "InvoiceNo": pa.array((line_order + 500_000).astype(str)),
                "StockCode": pa.array(rng.integers(10_000, 14_000, count).astype(str)),
                "Quantity": pa.array(rng.integers(1, 13, count).astype(str)),
                "InvoiceDate": pa.array(np.datetime_as_string(START + minutes.astype("timedelta64[m]"), unit="s")),
                "UnitPrice": pa.array(np.round(price_scale * rng.gamma(2.0, 0.5, count), 2).astype(str)),
                "CustomerID": pa.array((np.repeat(customer, lines) + 10_000).astype(str)),
            })
            writer.write_table(table)
            written, next_order = written + count, next_order + len(customer)
            customers = int(customer[-1]) + 1
    return customers


def stages(project: Path) -> list[str]:
    """The stages in the order `dvc repro` runs them, one `train` per model in train.models."""
    models = yaml.safe_load((project / "params.yaml").read_text())["train"]["models"]
    return ["ingest", "features", "kpis", *(f"train@{model}" for model in models), "uplift", "score", "outcomes", "report"]


def prepared(workdir: Path, millions: float, overrides: dict[str, object]) -> Path:
    """A clone of this repository reading a generated log of `millions` M lines, with `overrides` applied."""
    project = workdir / f"project_{millions:g}m"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(project)], check=True)
    log = workdir / f"transactions_{millions:g}m.csv"
    generate(log, int(millions * 1_000_000))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["transactions"]["path"] = str(log)
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = params
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def measured(project: Path, stage: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (GB) of `dvc repro --single-item stage` in `project`."""
    # The clone's own code, not the checkout the virtual environment's `churn` is installed from.
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(project)}
    env.pop("MLFLOW_TRACKING_URI", None)  # the clone's own store
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "--single-item", stage], cwd=project, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise RuntimeError(f"{stage} failed in {project}:\n{errors[-3000:]}")
    # ru_maxrss of the waited tree: the largest process in it, the stage's own (not the parent's,
    # which is small here: the log is generated before any stage starts).
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024**2


def quality(project: Path) -> str:
    churn = json.loads((project / "reports/metrics/churn.json").read_text())["backtest"]["model"]["roc_auc"]["mean"]
    value = json.loads((project / "reports/metrics/clv.json").read_text())["backtest"]["model"]["normalised_gini"]["mean"]
    return f"churn ROC AUC {churn:.4f} (Gini {2 * churn - 1:.4f}), value normalised Gini {value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 10, 50], help="millions of generated transaction lines")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="params to override, e.g. train.n_trials=3")
    parser.add_argument("--workdir", type=Path, help="where the logs and the clones go (default: a temporary folder, removed)")
    args = parser.parse_args()
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}

    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as folder:
        workdir = args.workdir or Path(folder)
        print(f"{os.cpu_count()} cores; params overridden: {overrides or 'none'}\n")
        print("| rows | stage | wall s | CPU s | peak RSS GB |")
        print("|---|---|---|---|---|")
        for millions in args.sizes:
            project = prepared(workdir, millions, overrides)
            total_wall = total_cpu = peak = 0.0
            for stage in stages(project):
                wall, cpu, rss = measured(project, stage)
                total_wall, total_cpu, peak = total_wall + wall, total_cpu + cpu, max(peak, rss)
                print(f"| {millions:g} M | {stage} | {wall:.0f} | {cpu:.0f} | {rss:.2f} |", flush=True)
            print(f"| {millions:g} M | **all** | **{total_wall:.0f}** | **{total_cpu:.0f}** | **{peak:.2f}** |")
            print(f"\n{millions:g} M rows: {quality(project)}\n", flush=True)


if __name__ == "__main__":
    main()
