"""The whole pipeline through `dvc repro`, in a temporary copy of the repository, on real data."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.report import CHARTS

from tests.conftest import EMBEDDED_TRANSACTIONS, documented_columns, run_in, update_params

pytestmark = pytest.mark.pipeline

SCORED = Path("outputs/scored_customers.csv")
# The search itself is tested in tests/models; here, the plumbing: one search, at the oldest fold, that later fits reuse.
QUICK_TRAINING = {"train.n_trials": 3, "train.max_rounds": 300, "train.tune": "oldest_fold"}


def online_retail_slice(target: Path) -> int:
    """Every sixth known customer of the embedded data, a block of anonymous rows, and one broken row."""
    raw = pd.read_csv(EMBEDDED_TRANSACTIONS, dtype="string", keep_default_na=False)
    known = raw["CustomerID"] != ""
    kept = raw[(known & (raw["CustomerID"].str[-1].isin(["0", "6"]))) | (~known & (raw.index < 3000))].copy()
    kept.iloc[5, kept.columns.get_loc("InvoiceDate")] = "not a date"
    kept.to_csv(target, index=False, compression="gzip")
    return len(kept)


def render_in_chromium(page: Path, screenshot: Path) -> tuple[dict[str, bool], list[str], Path]:
    """Open `page` in headless Chromium with the network cut: which images drew, console errors, a screenshot."""
    if shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
        tab = context.new_page()
        errors: list[str] = []
        tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(page.resolve().as_uri())
        charts = tab.evaluate("Object.fromEntries([...document.images].map(image => [image.id, image.complete && image.naturalWidth > 0]))")
        tab.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return charts, errors, screenshot


def test_dvc_repro_on_a_real_slice_scores_every_customer_tracks_the_run_and_is_repeatable(project):
    rows = online_retail_slice(project / "data" / "raw" / "slice.csv.gz")
    update_params(project, {"data.transactions.path": "data/raw/slice.csv.gz", **QUICK_TRAINING})

    run_in(project, "dvc", "repro")

    ingest = json.loads((project / "reports/metrics/ingest.json").read_text())["transactions"]
    quarantine = pd.read_csv(project / "data/quarantine/transactions.csv", dtype="string")
    assert ingest["rows_in"] == rows == ingest["rows_clean"] + len(quarantine)
    assert ingest["quarantined_by_reason"]["unparseable timestamp"] == 1
    assert (quarantine["reason"] == "unparseable timestamp").sum() == 1
    assert pd.read_parquet(project / "data/interim/transactions.parquet")["source_row"].nunique() == ingest["rows_clean"]

    scored = pd.read_csv(project / SCORED, dtype={"customer_id": "string"})
    scoring = pd.read_parquet(project / "data/features/scoring.parquet")
    assert list(scored.columns) == documented_columns()
    assert pd.read_parquet(project / "outputs/scored_customers.parquet")["customer_id"].tolist() == scored["customer_id"].tolist()
    assert sorted(scored["customer_id"]) == sorted(scoring["customer_id"])
    assert scored["customer_id"].is_unique and scored["churn_probability"].between(0, 1).all()
    assert (scored["as_of"] == "2011-12-10").all()
    assert scored["priority_rank"].tolist() == list(range(1, len(scored) + 1))
    population = json.loads((project / "reports/metrics/drift.json").read_text())
    training_columns = pd.read_parquet(project / "data/features/training.parquet").columns
    assert population["checked"] and set(population["psi"]) == {*(c for c in training_columns if c in scoring.columns and c not in ("customer_id", "cutoff")), "churn_probability"}
    assert all(value >= 0 for value in population["psi"].values())
    campaign = json.loads((project / "reports/metrics/campaign.json").read_text())
    contacted = scored["selected_for_campaign"] & ~scored["control_group"]
    assert campaign["customers"] == len(scored) and campaign["campaign"]["selected"]["customers"] == contacted.sum()
    # One rule for who is a customer: every buyer before as_of is scored or on the win-back list, never both.
    win_back = pd.read_csv(project / "outputs/win_back.csv", dtype={"customer_id": "string"})
    buyers = pd.read_parquet(project / "data/interim/transactions.parquet", columns=["customer_id"])["customer_id"].unique()
    assert set(win_back["customer_id"]).isdisjoint(scored["customer_id"]) and len(win_back) > 0
    assert set(win_back["customer_id"]) | set(scored["customer_id"]) <= set(buyers)
    assert (pd.to_datetime(win_back["last_purchase_date"]) < pd.Timestamp("2011-12-10") - pd.Timedelta(days=89)).all()
    assert (scored[["expected_purchases", "predicted_spend", "predicted_clv"]] >= 0).all().all()
    assert (scored["predicted_clv"] >= scored["predicted_spend"]).all()
    next_dates = pd.to_datetime(scored["expected_next_purchase_date"].dropna())
    assert len(next_dates) > 0 and (next_dates > pd.Timestamp("2011-12-10")).all()

    churn = json.loads((project / "reports/metrics/churn.json").read_text())
    assert len(churn["folds"]) == 3
    assert set(churn["backtest"]) == {"model", "model_uncalibrated", "recency", "rfm_cells", "bgnbd"}
    auc = churn["backtest"]["model"]["roc_auc"]
    assert auc["low"] < auc["mean"] < auc["high"] and auc["mean"] > churn["backtest"]["recency"]["roc_auc"]["mean"]
    # The model against each baseline on the same customers: a paired difference with its interval.
    assert set(churn["model_advantage"]) == {"recency", "rfm_cells", "bgnbd"}
    assert churn["model_advantage"]["recency"]["roc_auc"]["low"] > 0

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("churn")
    runs = client.search_runs([experiment.experiment_id])
    parents = {run.info.run_name: run for run in runs if "mlflow.parentRunId" not in run.data.tags}
    assert set(parents) == {"train_churn", "train_clv", "score", "outcomes"}
    assert parents["score"].data.metrics["selected.expected_profit"] == pytest.approx(campaign["campaign"]["selected"]["expected_profit"])
    parent = parents["train_churn"]
    children = {run.info.run_name: run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(children) == {*(f"backtest-{cutoff}" for cutoff in churn["folds"]), "final"}
    oldest = f"backtest-{min(churn['folds'])}"
    for name, child in children.items():
        trials = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == child.info.run_id]
        # train.tune oldest_fold: the oldest fold searches, every later fit takes its parameters in one trial.
        assert len(trials) == (3 if name == oldest else 1) and all("validation_log_loss" in trial.data.metrics for trial in trials)
        assert child.data.params["tuned.num_leaves"] == children[oldest].data.params["tuned.num_leaves"]
    assert parent.data.metrics["backtest.model.roc_auc.mean"] == pytest.approx(churn["backtest"]["model"]["roc_auc"]["mean"])
    assert parent.data.metrics["model_advantage.recency.roc_auc.low"] == pytest.approx(churn["model_advantage"]["recency"]["roc_auc"]["low"])
    assert parent.data.params["horizon_days"] == "90"
    artifacts = {item.path for item in client.list_artifacts(parent.info.run_id)} | {
        item.path for item in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"shap_summary.png", "shap_summary.csv", "feature_importance.csv", "plots/roc.png", "plots/calibration.png"} <= artifacts
    challenger = client.get_model_version_by_alias("churn", "challenger")
    assert challenger.run_id == parent.info.run_id
    served = mlflow.pyfunc.load_model("models:/churn@challenger")
    scoring = pd.read_parquet(project / "data/features/scoring.parquet")
    by_id = scored.set_index("customer_id")["churn_probability"]
    assert served.predict(scoring.head(20)).round(4).tolist() == by_id[scoring["customer_id"].head(20)].tolist()

    value = json.loads((project / "reports/metrics/clv.json").read_text())
    assert list(value["folds"]) == list(churn["folds"])  # the same folds as the churn backtest
    assert set(value["backtest"]) == {"model", "bgnbd_gg", "pnbd_gg"}
    assert {"normalised_gini", "top_decile_share", "top_decile_share_perfect", "spearman", "mae", "total_ratio"} <= set(value["backtest"]["model"])
    clv_run = parents["train_clv"]
    assert client.get_model_version_by_alias("clv", "challenger").run_id == clv_run.info.run_id
    assert clv_run.data.metrics["backtest.model.normalised_gini.mean"] == pytest.approx(value["backtest"]["model"]["normalised_gini"]["mean"])
    served_value = mlflow.pyfunc.load_model("models:/clv@challenger")
    spend = scored.set_index("customer_id")["predicted_spend"]
    assert served_value.predict(scoring.head(20)).round(2).tolist() == spend[scoring["customer_id"].head(20)].tolist()

    plots = json.loads(run_in(project, "dvc", "plots", "show", "--json").stdout)
    assert set(plots["data"]) == {
        "ROC", "Precision-recall", "Cumulative gains", "Calibration",
        "Customer value, cumulative gains", "Customer value by decile of prediction, predicted and actual",
        "Retention and churn rate by period (%)", "Average order value by period",
        "The list at the backtest cutoffs: churn probability against the churn that followed",
        "The list at the backtest cutoffs: predicted and actual spend in the horizon by decile",
    }
    # The outcome backtest: the list rebuilt at every backtest cutoff, set against what happened.
    outcomes = json.loads((project / "reports/metrics/outcomes.json").read_text())
    assert list(outcomes["folds"]) == list(churn["folds"]) and outcomes["latest"] == list(churn["folds"])[-1]
    latest_fold = pd.read_parquet(project / "data/features/training.parquet", columns=["cutoff", "churned"])
    latest_fold = latest_fold[latest_fold["cutoff"] == pd.Timestamp(outcomes["latest"])]
    assert outcomes["folds"][outcomes["latest"]]["customers"] == len(latest_fold)
    assert outcomes["folds"][outcomes["latest"]]["churn"]["observed_rate"] == pytest.approx(latest_fold["churned"].mean())
    assert parents["outcomes"].data.metrics["pooled.churn.calibration_error"] == pytest.approx(outcomes["pooled"]["churn"]["calibration_error"])
    kpis = pd.read_csv(project / "reports/kpis/kpis_by_period.csv")
    assert kpis["period"].iloc[-1] == "2011-11" and kpis["retention_rate"].iloc[1:].between(0, 200).all()
    cohorts = pd.read_csv(project / "reports/kpis/cohort_retention.csv")
    assert (cohorts["0"] == 1).all() and len(cohorts) == len(kpis)

    first = (project / SCORED).read_bytes()
    assert "up to date" in run_in(project, "dvc", "repro").stdout
    # Trained again from nothing, the same list to the byte (that every other stage's rerun
    # matches its first run is tests/pipeline/test_interrupted.py's).
    run_in(project, "dvc", "repro", "--force", "--single-item", "train", "score")
    assert (project / SCORED).read_bytes() == first

    # Stages declare exactly their params: a model param changes the model, not the features;
    # calibration is the churn model's alone, the search settings both models'.
    params = (project / "params.yaml").read_text()
    # (the seed also draws the outcome backtest's customer resamples)
    for change, stale in (({"churn.calibration": "isotonic"}, {"train@churn"}), ({"train.seed": 7}, {"train@churn", "train@clv", "outcomes"})):
        update_params(project, change)
        assert set(json.loads(run_in(project, "dvc", "status", "--json").stdout)) == stale, change
        (project / "params.yaml").write_text(params)
    # An experiment as a data scientist runs one: the model again, the features as they were.
    experiment_run = run_in(project, "dvc", "exp", "run", "-S", "churn.calibration=isotonic", "train@churn")
    assert "Running stage 'train@churn'" in experiment_run.stdout and "Running stage 'features'" not in experiment_run.stdout

    # A weekly job between retrainings: the registered models under an alias, at a date of its choosing.
    missing = run_in(project, "churn", "score", "--alias", "champion", check=False)
    assert missing.returncode == 2 and "no version of the registered model 'churn' has the alias 'champion'" in missing.stderr
    for name in ("churn", "clv"):
        client.set_registered_model_alias(name, "champion", client.get_model_version_by_alias(name, "challenger").version)
    run_in(project, "churn", "score", "--alias", "champion", "--as-of", "2011-11-01")
    weekly = pd.read_csv(project / SCORED, dtype={"customer_id": "string"})
    assert (weekly["as_of"] == "2011-11-01").all() and 0 < len(weekly) < len(scored)
    assert json.loads((project / "reports/metrics/drift.json").read_text())["checked"]  # the registered model carries its reference

    # Last, as it needs Chromium: the report renders offline, every chart drawn, no console errors.
    charts, errors, screenshot = render_in_chromium(project / "outputs/report.html", project / "report.png")
    assert charts == {name: True for name in CHARTS} and errors == []
    pixels = np.asarray(Image.open(screenshot).convert("L"), dtype=float)
    assert pixels.shape[0] > 2000 and pixels.std() > 20  # a long page, not a blank one


def test_a_missing_column_stops_the_run_naming_file_and_column(project):
    update_params(project, {"data.transactions.customer_id": "Customer"})
    result = run_in(project, "churn", "ingest", check=False)
    assert result.returncode == 2
    assert "data/raw/online_retail.csv.gz: column 'Customer' (params data.transactions.customer_id) not found" in result.stderr
    assert not (project / "data/interim/transactions.parquet").exists()


def test_a_stage_run_before_the_stages_it_needs_names_the_missing_file(project):
    result = run_in(project, "churn", "score", check=False)
    assert result.returncode == 2 and "data/features/scoring.parquet is missing: an earlier stage writes it" in result.stderr
    assert "Traceback" not in result.stderr
    (project / "list.csv").write_text("customer_id,as_of,selected_for_campaign,control_group\n1,2011-09-01,True,False\n")
    result = run_in(project, "churn", "readback", "list.csv", check=False)
    assert result.returncode == 2 and "data/interim/transactions.parquet is missing" in result.stderr
