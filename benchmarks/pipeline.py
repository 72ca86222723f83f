"""The whole pipeline on a generated log: per stage, wall and CPU seconds and peak memory; then the models' backtest.

    python -m benchmarks.pipeline --sizes 1 10 50                # millions of transaction lines, default params
    python -m benchmarks.pipeline --sizes 0.2 --set train.n_trials=3

Each size: an Online Retail-like CSV from `benchmarks.ingest.generate` (a tenth as many customers
as lines, two years), a clone of this repository's last commit whose params point at it, and
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

import yaml

from benchmarks.ingest import generate
from benchmarks.measure import ROOT


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
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
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
