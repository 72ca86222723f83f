"""A stage killed with SIGKILL at a random point leaves its outputs all old or all new, no
temporary file, no MLflow run or Optuna trial left RUNNING once rerun; the rerun's outputs are
those of an uninterrupted run."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

import pandas as pd

from tests.conftest import EMBEDDED_TRANSACTIONS, run_in, update_params
from tests.pipeline.test_dvc_pipeline import QUICK_TRAINING

pytestmark = pytest.mark.pipeline

# stage: (its outputs, a params change that changes them)
STAGES = {
    "ingest": (["data/interim", "data/quarantine", "reports/metrics/ingest.json"], {"data.transactions.drop_duplicates": False}),
    "features": (["data/features", "reports/metrics/features.json"], {"features.windows_days": [30, 90, 365]}),
    "kpis": (["reports/kpis", "reports/plots/kpis", "reports/metrics/kpis.json"], {"kpis.period": "quarter"}),
    "score": (
        ["outputs/scored_customers.csv", "outputs/scored_customers.parquet", "outputs/win_back.csv",
         "reports/metrics/campaign.json", "reports/metrics/drift.json"],
        {"campaign.seed": 7},
    ),
}
TRAIN_OUTPUTS = ["data/models/churn", "reports/metrics/churn.json", "data/evaluation/churn_backtest.parquet"]


def digests(project: Path, outputs: list[str]) -> dict[str, str]:
    found = {}
    for output in outputs:
        path = project / output
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            found[str(file.relative_to(project))] = hashlib.sha256(file.read_bytes()).hexdigest() if file.exists() else "absent"
    return found


def churn_command(project: Path, stage: str) -> subprocess.Popen:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen(["churn", *stage.split()], cwd=project, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def killed_midway(project: Path, stage: str, seconds: float) -> None:
    process = churn_command(project, stage)
    time.sleep(seconds)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def no_leftovers(project: Path) -> None:
    hidden = [p for folder in ("outputs", "data", "reports") for p in (project / folder).rglob(".*")]
    assert not hidden, hidden


def saved(project: Path, outputs: list[str], backup: Path) -> None:
    for output in outputs:
        source, target = project / output, backup / output
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)


def restored(project: Path, outputs: list[str], backup: Path) -> None:
    for output in outputs:
        target = project / output
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        (shutil.copytree if (backup / output).is_dir() else shutil.copy2)(backup / output, target)


def test_a_killed_stage_leaves_its_outputs_whole_and_its_rerun_matches_an_uninterrupted_one(project, tmp_path):
    raw = pd.read_csv(EMBEDDED_TRANSACTIONS, dtype="string", keep_default_na=False)
    raw[raw["CustomerID"].str.endswith("7")].to_csv(project / "data/raw/slice.csv.gz", index=False, compression="gzip")
    update_params(project, {"data.transactions.path": "data/raw/slice.csv.gz", **QUICK_TRAINING, "train.backtest_folds": 1})
    run_in(project, "dvc", "repro", "score", "kpis")
    chance = random.Random(19)

    for stage, (outputs, change) in STAGES.items():
        before = digests(project, outputs)
        backup = tmp_path / f"backup-{stage}"
        saved(project, outputs, backup)
        params = (project / "params.yaml").read_text()
        update_params(project, change)
        started = time.monotonic()
        run_in(project, "churn", stage)
        uninterrupted = digests(project, outputs)
        assert uninterrupted != before, f"{stage}: the change {change} must change the outputs for this test to tell old from new"
        restored(project, outputs, backup)

        killed_midway(project, stage, chance.uniform(0.3, 0.9) * (time.monotonic() - started))
        left = digests(project, outputs)
        assert left in (before, uninterrupted), f"{stage}: killed, it left a mix of old and new outputs"
        no_leftovers(project)
        run_in(project, "churn", stage)
        assert digests(project, outputs) == uninterrupted, f"{stage}: the rerun differs from an uninterrupted run"
        no_leftovers(project)
        (project / "params.yaml").write_text(params)
        restored(project, outputs, backup)

    # Training: its search resumes where the kill stopped it, so the rerun is checked for what it leaves.
    before = digests(project, TRAIN_OUTPUTS)
    update_params(project, {"train.seed": 7})
    killed_midway(project, "train churn", chance.uniform(8, 20))
    left = digests(project, TRAIN_OUTPUTS)
    unchanged = [left.get(name) == before[name] for name in ("data/models/churn/booster.txt", "reports/metrics/churn.json")]
    assert unchanged[0] == unchanged[1], "train: killed, it left a new model beside old metrics, or the reverse"
    no_leftovers(project)
    run_in(project, "churn", "train", "churn")
    no_leftovers(project)
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("churn")
    assert not client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
    with sqlite3.connect(project / "data/studies/studies.db") as studies:
        assert studies.execute("select count(*) from trials where state = 'RUNNING'").fetchone() == (0,)
