"""`dvc repro` on data other than the embedded default: the other shared data sets with only a
params change, and a history shorter than a year."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import EMBEDDED_TRANSACTIONS, ROOT, run_in, shared_file, update_params
from tests.pipeline.test_dvc_pipeline import QUICK_TRAINING, SCORED

pytestmark = pytest.mark.pipeline


@pytest.mark.parametrize("name", ["cdnow", "churnsim"])
def test_each_shared_data_set_runs_with_only_a_params_change(project, name):
    sections = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    for source in filter(None, sections["data"].values()):
        # The copy lives in a temporary folder: resolve ../shared from the real repository.
        source["path"] = str(shared_file(*Path(source["path"]).parts[3:]))
    # A config's `score` and `train` values are single settings, not whole sections.
    settings = {f"{section}.{key}": value for section in ("score", "train") for key, value in sections.pop(section, {}).items()}
    # A config's sources replace those of params.yaml; `data.parse` stays.
    sources = {f"data.{name}": mapping for name, mapping in sections.pop("data").items()}
    # One backtest fold: the backtest is the first test's; here, that the data runs end to end.
    update_params(project, sources | settings | QUICK_TRAINING | {"train.backtest_folds": 1})

    run_in(project, "dvc", "repro")

    scored = pd.read_csv(project / SCORED, dtype={"customer_id": "string"})
    features = json.loads((project / "reports/metrics/features.json").read_text())
    assert len(scored) == features["scoring_customers"] > 1000
    assert scored["churn_probability"].between(0, 1).all()
    assert scored[["expected_purchases", "predicted_spend", "predicted_clv", "value_at_risk"]].notna().all().all()
    assert scored["rfm_segment"].ne("Unsegmented").all() and scored["recommended_action"].ne("").all()
    if name == "churnsim":
        ingest = json.loads((project / "reports/metrics/ingest.json").read_text())
        assert set(ingest) == {"transactions", "events", "subscriptions", "customers"}
        assert features["population"] == "subscribed at the cutoff"
        assert len(scored) < ingest["customers"]["customers"]  # accounts that lapsed are no longer scored
        training = pd.read_parquet(project / "data/features/training.parquet")
        expected = {"events_like_30d", "events_unfriend_365d", "engagement_index", "current_plan", "customer_channel"}
        assert expected <= set(training.columns)


def test_nine_months_of_history_train_with_the_folds_they_hold(project):
    """The issue's new user: nine months of data, a 90-day horizon, default settings otherwise
    (two customers in five, to keep it quick)."""
    raw = pd.read_csv(EMBEDDED_TRANSACTIONS, dtype="string", keep_default_na=False)
    recent = raw[(raw["InvoiceDate"] >= "2011-03-10") & raw["CustomerID"].str[-1].isin(["0", "1", "2", "3"])]
    recent.to_csv(project / "data/raw/recent.csv.gz", index=False, compression="gzip")
    update_params(project, {"data.transactions.path": "data/raw/recent.csv.gz", **QUICK_TRAINING})

    run_in(project, "dvc", "repro", "train@churn")  # the churn model is what this checks

    features = json.loads((project / "reports/metrics/features.json").read_text())
    assert list(features["cutoffs"]) == ["2011-04-14", "2011-05-14", "2011-06-13", "2011-07-13", "2011-08-12", "2011-09-11"]
    churn = json.loads((project / "reports/metrics/churn.json").read_text())
    # Each fold's own history is too short to validate a horizon later: it holds customers out instead.
    assert churn["validated_by"] == {
        "backtest-2011-07-13": "customer", "backtest-2011-08-12": "customer", "backtest-2011-09-11": "customer", "final": "time",
    }
    assert churn["backtest"]["model"]["roc_auc"]["mean"] > churn["backtest"]["recency"]["roc_auc"]["mean"]
