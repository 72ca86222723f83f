"""`churn readback`: a published list's contacted customers against its control group, on the embedded data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.report import readback_section
from tests.conftest import EMBEDDED_TRANSACTIONS, run_in, update_params


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    from tests.conftest import copy_project

    project = copy_project(tmp_path_factory.mktemp("readback") / "project")
    raw = pd.read_csv(EMBEDDED_TRANSACTIONS, dtype="string", keep_default_na=False)
    raw[raw["CustomerID"].str[-1].isin(["1", "4", "7"])].to_csv(project / "data/raw/slice.csv.gz", index=False, compression="gzip")
    update_params(project, {"data.transactions.path": "data/raw/slice.csv.gz"})
    run_in(project, "churn", "ingest")
    transactions = pd.read_parquet(project / "data/interim/transactions.parquet")
    return project, transactions


def a_list(transactions: pd.DataFrame, as_of: str, control: np.ndarray | None = None) -> pd.DataFrame:
    """Everyone who bought in the 90 days before `as_of`, all selected, a control group drawn at random unless given."""
    start = pd.Timestamp(as_of)
    recent = transactions[(transactions["timestamp"] < start) & (transactions["timestamp"] >= start - pd.Timedelta(days=90))]
    ids = pd.Series(sorted(recent["customer_id"].unique()), dtype="string")
    drawn = np.random.default_rng(3).random(len(ids)) < 0.5 if control is None else control(ids)
    return pd.DataFrame({"customer_id": ids, "as_of": as_of, "priority_rank": range(1, len(ids) + 1), "selected_for_campaign": True, "control_group": drawn})


def test_a_list_no_one_contacted_shows_no_effect_and_a_rigged_control_shows_one(ingested):
    project, transactions = ingested
    listed = a_list(transactions, "2011-09-01")
    listed.to_csv(project / "list.csv", index=False)
    result = run_in(project, "churn", "readback", "list.csv")
    record = json.loads((project / "reports/readback/2011-09-01.json").read_text())
    assert "readback: bought:" in result.stderr and record["complete"] and record["days_observed"] == 90
    assert record["contacted"] + record["control"] == len(listed) and record["control"] == listed["control_group"].sum()
    window = transactions[(transactions["timestamp"] >= "2011-09-01") & (transactions["timestamp"] < "2011-11-30")]
    bought = listed["customer_id"].isin(window["customer_id"])
    assert record["effects"]["bought"]["treated_mean"] == pytest.approx(bought[~listed["control_group"]].mean())
    # The control group was drawn at random and nobody was contacted: no difference beyond chance.
    for outcome in ("bought", "purchases", "spend"):
        assert record["effects"][outcome]["low"] < 0 < record["effects"][outcome]["high"], outcome

    # A "control group" of exactly those who bought nothing: the read-back must see the gap.
    rigged = a_list(transactions, "2011-09-01", control=lambda ids: ~ids.isin(window["customer_id"]).to_numpy())
    rigged.to_csv(project / "list.csv", index=False)
    run_in(project, "churn", "readback", "list.csv")
    effect = json.loads((project / "reports/readback/2011-09-01.json").read_text())["effects"]["bought"]
    assert effect["effect"] == pytest.approx(1.0) and effect["low"] > 0.99
    section = readback_section([json.loads((project / "reports/readback/2011-09-01.json").read_text())])
    assert "Earlier lists read back" in section and section.count("<tr>") == 1 + 3 and "+1.0000" in section


def test_a_list_whose_horizon_has_not_passed_says_how_much_was_seen_and_a_bad_list_names_its_column(ingested):
    project, transactions = ingested
    a_list(transactions, "2011-11-01").to_csv(project / "recent.csv", index=False)
    run_in(project, "churn", "readback", "recent.csv")
    record = json.loads((project / "reports/readback/2011-11-01.json").read_text())
    assert not record["complete"] and record["days_observed"] == (transactions["timestamp"].max() - pd.Timestamp("2011-11-01")).days + 1

    mixed = a_list(transactions, "2011-09-01")
    mixed.loc[0, "as_of"] = "2011-08-01"
    mixed.to_csv(project / "mixed.csv", index=False)
    failed = run_in(project, "churn", "readback", "mixed.csv", check=False)
    assert failed.returncode == 2 and "mixed.csv: column 'as_of' must hold one date" in failed.stderr
