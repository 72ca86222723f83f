"""Stage `score`: the list marketing receives, and what its campaign is expected to earn.

As a DVC stage it scores the scoring snapshot with the models the pipeline just trained. A
weekly job between retrainings runs `churn score --alias champion --as-of <date>` instead: the
snapshot at that date from the clean data, the models registered under that alias.
"""

from __future__ import annotations

import datetime as dt

import mlflow
import pandas as pd

from models.campaign import CampaignSettings
from models.clv import ValueSettings
from models.customer_list import ListSettings, PlaybookRule, score_customers
from models.segments import SegmentRule
from pipeline import artifacts, config, io


def list_settings(params: config.Params) -> ListSettings:
    score = params.score
    return ListSettings(
        risk_bands=(score.risk_bands.medium, score.risk_bands.high),
        value_bands=(score.value_bands.medium, score.value_bands.high),
        segment_rules=[SegmentRule(rule.name, tuple(rule.recency), tuple(rule.frequency_monetary)) for rule in score.rfm_segments],
        playbook=[
            PlaybookRule(
                action=rule.action,
                segments=None if rule.segments is None else tuple(rule.segments),
                risk=None if rule.risk is None else tuple(rule.risk),
                value=None if rule.value is None else tuple(rule.value),
                profitable=rule.profitable,
            )
            for rule in score.playbook
        ],
        value=ValueSettings(params.clv.lifetime_months, params.clv.annual_discount_rate),
        campaign=CampaignSettings(**params.campaign.model_dump()),
    )


def registered_models(alias: str):
    """The churn and CLV models that the registry's `alias` points at, and the churn model's directory."""
    mlflow.set_tracking_uri(config.tracking_uri())
    client = mlflow.MlflowClient()
    loaded, directories = [], []
    for name in ("churn", "clv"):
        try:
            client.get_model_version_by_alias(name, alias)
        except mlflow.exceptions.MlflowException as exc:
            raise config.ConfigError(
                f"no version of the registered model {name!r} has the alias {alias!r} at {config.tracking_uri()}: "
                f"train one (`dvc repro`) and promote it, or name another alias (--alias challenger)"
            ) from exc
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@{alias}").unwrap_python_model()
        loaded.append(pyfunc.model)
        directories.append(pyfunc.directory)
    return (*loaded, directories[0])


def population_drift(reference: dict | None, churn_model, scoring: pd.DataFrame, threshold: float) -> dict:
    """PSI of each feature and of the churn score, today's customers against the model's training rows."""
    if reference is None:
        return {"checked": False, "why": "the model was saved without a reference profile"}
    psi = artifacts.stability(reference, churn_model, scoring)
    features = {name: value for name, value in psi.items() if name != artifacts.SCORE}
    return {
        "checked": True,
        "threshold": threshold,
        "score_psi": psi[artifacts.SCORE],
        "max_feature_psi": max(features.values()),
        "shifted": sorted(name for name, value in psi.items() if value > threshold),
        "psi": psi,
    }


def run(params: config.Params, alias: str | None = None, as_of: dt.date | None = None) -> tuple[pd.DataFrame, dict]:
    if as_of is None:
        scoring = pd.read_parquet(config.SCORING_SNAPSHOT)
    else:
        from pipeline.featurize import scoring_snapshot

        scoring = scoring_snapshot(params, dt.datetime.combine(as_of, dt.time()))
    if alias is None:
        churn_model, clv_model, churn_directory = artifacts.load_churn_model(config.CHURN_MODEL), artifacts.load_clv_model(config.CLV_MODEL), config.CHURN_MODEL
    else:
        churn_model, clv_model, churn_directory = registered_models(alias)

    customers, summary = score_customers(scoring, churn_model, clv_model, list_settings(params))
    io.write_json(population_drift(artifacts.load_reference(churn_directory), churn_model, scoring, params.score.drift_psi_threshold), config.DRIFT_METRICS)
    metrics = {"as_of": customers["as_of"].iloc[0] if len(customers) else None, "customers": len(customers), "models": alias or "pipeline", "campaign": summary}
    io.write_spreadsheet_csv(customers, config.SCORED_CUSTOMERS)
    io.write_parquet(customers, config.SCORED_CUSTOMERS_PARQUET)
    io.write_json(metrics, config.CAMPAIGN_METRICS)
    _log_run(params, metrics)
    return customers, metrics


def _log_run(params: config.Params, metrics: dict) -> None:
    mlflow.set_tracking_uri(config.tracking_uri())
    mlflow.set_experiment(params.tracking.experiment)
    with mlflow.start_run(run_name="score"):
        mlflow.log_params({f"campaign.{key}": value for key, value in params.campaign.model_dump().items()} | {"models": metrics["models"]})
        mlflow.log_metrics({f"{name}.{key}": value for name, figures in metrics["campaign"].items() for key, value in figures.items()})
        mlflow.log_metric("customers", metrics["customers"])
        mlflow.log_dict(metrics, "campaign.json")
