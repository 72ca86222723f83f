"""`churn readback LIST`: a list the pipeline published, read back once its horizon has passed.

The list's contacted customers (selected, not in the control group) against its control group,
in what they did in the `score.horizon_days` after the list's as_of, as the clean transactions
(the last `churn ingest`) record it: whether they bought, how many purchases, how much they
spent. One file per list, `reports/readback/<as_of>.json`, and an MLflow run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import mlflow
import pandas as pd

from models.experiment import list_read_back
from pipeline import config, files, tracking
from pipeline.score import campaign_settings

LIST_COLUMNS = ["customer_id", "as_of", "selected_for_campaign", "control_group"]


def read_list(path: Path) -> pd.DataFrame:
    try:
        listed = pd.read_csv(path, dtype={"customer_id": "string", "as_of": "string"})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise files.InputError(f"{path}: cannot read the list: {exc}") from exc
    files.require_columns(listed, {column: column for column in LIST_COLUMNS}, path, "a scored list")
    if listed["as_of"].nunique() != 1:
        raise files.InputError(f"{path}: column 'as_of' must hold one date, the list's; it holds {listed['as_of'].nunique()}")
    return listed


def horizon_outcomes(transactions: pd.DataFrame, start: dt.datetime, days: int) -> pd.DataFrame:
    """Per customer who bought in [start, start + days): bought (1), purchases, spend."""
    window = transactions[(transactions["timestamp"] >= start) & (transactions["timestamp"] < start + dt.timedelta(days=days))]
    grouped = window.groupby("customer_id", observed=True)
    return pd.DataFrame({"bought": 1.0, "purchases": grouped["order_id"].nunique().astype(float), "spend": grouped["amount"].sum()}).reset_index()


def run(params: config.Params, list_path: Path) -> dict:
    listed = read_list(list_path)
    as_of = dt.datetime.fromisoformat(listed["as_of"].iloc[0])
    transactions = pd.read_parquet(config.CLEAN_TRANSACTIONS, columns=["customer_id", "timestamp", "order_id", "amount"])
    horizon = params.score.horizon_days
    observed_until = transactions["timestamp"].max()
    days_seen = max(0, min(horizon, (observed_until - as_of).days + 1))
    if days_seen == 0:
        raise files.InputError(f"{config.CLEAN_TRANSACTIONS}: no transaction after the list's as_of {as_of:%Y-%m-%d}: nothing to read back yet")
    settings = campaign_settings(params)
    try:
        result = list_read_back(listed, horizon_outcomes(transactions, as_of, horizon), settings.margin, settings.cost_per_contact)
    except ValueError as exc:
        raise files.InputError(f"{list_path}: {exc}") from exc
    result |= {"list": str(list_path), "as_of": f"{as_of:%Y-%m-%d}", "horizon_days": horizon, "days_observed": days_seen,
               "complete": days_seen == horizon}
    target = config.READBACK / f"{as_of:%Y-%m-%d}.json"
    files.write_json(result, target)
    tracking.start_tracking(params.tracking.experiment)
    with tracking.start_run("readback"):
        mlflow.log_params({"list": str(list_path), "as_of": result["as_of"], "days_observed": days_seen})
        mlflow.log_metrics({f"{outcome}.{key}": figures[key] for outcome, figures in result["effects"].items() for key in ("effect", "low", "high")})
    return result | {"written": str(target)}
