"""The whole pipeline through `dvc repro`, in a temporary copy of the repository, on real data."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from tests.conftest import EMBEDDED_TRANSACTIONS, ROOT, run_in, shared_file, update_params

pytestmark = pytest.mark.pipeline

SCORED = Path("outputs/scored_customers.csv")


def online_retail_slice(target: Path) -> int:
    """Every sixth known customer of the embedded data, a block of anonymous rows, and one broken row."""
    raw = pd.read_csv(EMBEDDED_TRANSACTIONS, dtype="string", keep_default_na=False)
    known = raw["CustomerID"] != ""
    kept = raw[(known & (raw["CustomerID"].str[-1].isin(["0", "6"]))) | (~known & (raw.index < 3000))].copy()
    kept.iloc[5, kept.columns.get_loc("InvoiceDate")] = "not a date"
    kept.to_csv(target, index=False, compression="gzip")
    return len(kept)


def test_dvc_repro_on_a_real_slice_scores_every_customer_tracks_the_run_and_is_repeatable(project):
    rows = online_retail_slice(project / "data" / "raw" / "slice.csv.gz")
    update_params(project, {"data.transactions.path": "data/raw/slice.csv.gz"})

    run_in(project, "dvc", "repro")

    ingest = json.loads((project / "reports/metrics/ingest.json").read_text())["transactions"]
    quarantine = pd.read_csv(project / "data/quarantine/transactions.csv", dtype="string")
    assert ingest["rows_in"] == rows == ingest["rows_clean"] + len(quarantine)
    assert ingest["quarantined_by_reason"]["unparseable timestamp"] == 1
    assert (quarantine["reason"] == "unparseable timestamp").sum() == 1
    assert pd.read_parquet(project / "data/interim/transactions.parquet")["source_row"].nunique() == ingest["rows_clean"]

    scored = pd.read_csv(project / SCORED, dtype={"customer_id": "string"})
    scoring = pd.read_parquet(project / "data/features/scoring.parquet")
    assert list(scored.columns) == ["customer_id", "as_of", "churn_probability", "recency_days", "orders", "net_spend"]
    assert sorted(scored["customer_id"]) == sorted(scoring["customer_id"])
    assert scored["customer_id"].is_unique and scored["churn_probability"].between(0, 1).all()
    assert (scored["as_of"] == "2011-12-10").all()
    assert scored["churn_probability"].is_monotonic_decreasing

    churn = json.loads((project / "reports/metrics/churn.json").read_text())
    assert churn["model"]["roc_auc"] > 0.6

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("churn")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.metrics["model.roc_auc"] == pytest.approx(churn["model"]["roc_auc"])
    assert run.data.params["horizon_days"] == "90"
    (model,) = client.search_logged_models([experiment.experiment_id])
    assert model.source_run_id == run.info.run_id

    first = (project / SCORED).read_bytes()
    assert "up to date" in run_in(project, "dvc", "repro").stdout
    run_in(project, "dvc", "repro", "--force")
    assert (project / SCORED).read_bytes() == first

    # Stages declare exactly their params: a model param changes the model, not the features.
    update_params(project, {"train.seed": 7})
    assert set(json.loads(run_in(project, "dvc", "status", "--json").stdout)) == {"train"}


def test_a_missing_column_stops_the_run_naming_file_and_column(project):
    update_params(project, {"data.transactions.customer_id": "Customer"})
    result = run_in(project, "churn", "ingest", check=False)
    assert result.returncode == 2
    assert "data/raw/online_retail.csv.gz: column 'Customer' (params data.transactions.customer_id) not found" in result.stderr
    assert not (project / "data/interim/transactions.parquet").exists()


@pytest.mark.parametrize("name", ["cdnow", "churnsim"])
def test_each_shared_data_set_runs_with_only_a_params_change(project, name):
    sections = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    for source in filter(None, sections["data"].values()):
        # The copy lives in a temporary folder: resolve ../shared from the real repository.
        source["path"] = str(shared_file(*Path(source["path"]).parts[3:]))
    update_params(project, sections)

    run_in(project, "dvc", "repro")

    scored = pd.read_csv(project / SCORED, dtype={"customer_id": "string"})
    features = json.loads((project / "reports/metrics/features.json").read_text())
    assert len(scored) == features["scoring_customers"] > 1000
    assert scored["churn_probability"].between(0, 1).all()
    if name == "churnsim":
        ingest = json.loads((project / "reports/metrics/ingest.json").read_text())
        assert set(ingest) == {"transactions", "events", "subscriptions", "customers"}
        assert features["population"] == "subscribed at the cutoff"
        assert len(scored) < ingest["customers"]["customers"]  # accounts that lapsed are no longer scored
        training = pd.read_parquet(project / "data/features/training.parquet")
        expected = {"events_like_30d", "events_unfriend_365d", "engagement_index", "current_plan", "customer_channel"}
        assert expected <= set(training.columns)
