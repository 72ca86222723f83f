"""Stage `score`: the list marketing receives, and what its campaign is expected to earn.

As a DVC stage it scores the scoring snapshot with the models the pipeline just trained. A
weekly job between retrainings runs `churn score --alias champion --as-of <date>` instead: the
snapshot at that date from the clean data, the models registered under that alias.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import mlflow
import pandas as pd

from models import uplift
from models.campaign import CampaignSettings
from models.clv import ValueSettings
from models.customer_list import ListSettings, PlaybookRule, score_customers, win_back_list
from models.segments import SegmentRule
from pipeline import artifacts, config, files, tracking


class Scored(NamedTuple):
    customers: pd.DataFrame
    metrics: dict
    drift: dict
    win_back: pd.DataFrame


def campaign_settings(params: config.Params) -> CampaignSettings:
    """The campaign's money settings; `rank_by` chooses the ranking and is the score stage's to read."""
    return CampaignSettings(**params.campaign.model_dump(exclude={"rank_by"}))


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
        campaign=campaign_settings(params),
    )


def registered_model(name: str, selector: str):
    """A registered model (`selector`: "@alias" or "/version") and the directory of its side files."""
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}{selector}").unwrap_python_model()
    return pyfunc.model, pyfunc.directory


def registered_models(alias: str):
    """The churn and CLV models that the registry's `alias` points at, and the churn model's directory."""
    mlflow.set_tracking_uri(config.tracking_uri())
    client = mlflow.MlflowClient()
    for name in ("churn", "clv"):
        if tracking.aliased_version(client, name, alias) is None:
            raise config.ConfigError(
                f"no version of the registered model {name!r} has the alias {alias!r} at {config.tracking_uri()}: "
                f"train one (`dvc repro`) and promote it (`churn promote`), or name another alias (--alias challenger)"
            )
    (churn_model, churn_directory), (clv_model, _) = (registered_model(name, f"@{alias}") for name in ("churn", "clv"))
    if clv_model.retained_booster is None:
        raise config.ConfigError(
            f"the registered model 'clv@{alias}' was saved before the value model learned the spend of retained customers "
            "(value at risk needs it): retrain (`dvc repro`, then `churn promote`)"
        )
    return churn_model, clv_model, churn_directory


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


def snapshot(params: config.Params, as_of: dt.date | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customers to score and the lapsed: the scoring snapshot, or the snapshot at `as_of` from the clean data."""
    if as_of is None:
        return pd.read_parquet(config.SCORING_SNAPSHOT), pd.read_parquet(config.LAPSED_SNAPSHOT)
    from pipeline.featurize import scoring_snapshot

    return scoring_snapshot(params, dt.datetime.combine(as_of, dt.time()))


RANKINGS = {
    "churn_risk": "campaign.rank_by is churn_risk: the expected profit of saving a customer who would leave "
                  "(churn probability x the chance an offer keeps them x their margin, less the offer's and the contact's costs)",
    "uplift": f"campaign.rank_by is uplift: the incremental profit of each customer's best arm, as a past campaign's "
              f"results predict it ({config.UPLIFT_SCORES}): whom the contact changes, not merely who is at risk",
}


def uplift_scores(params: config.Params) -> pd.DataFrame | None:
    """Each customer's best arm and its incremental profit when the campaign is ranked by uplift, else None."""
    if params.campaign.rank_by != "uplift":
        return None
    scores = pd.read_csv(config.UPLIFT_SCORES, dtype={"customer_id": "string", "arm": "string"}) if config.UPLIFT_SCORES.exists() else pd.DataFrame()
    if scores.empty or "incremental_profit" not in scores:
        raise config.ConfigError(
            f"campaign.rank_by is uplift, but {config.UPLIFT_SCORES} holds no incremental profit: map data.campaign "
            "(and uplift.value_outcome) and run `churn uplift` first (docs/uplift.md), or rank by churn_risk")
    return uplift.best_arm(scores)


def score(params: config.Params, scoring: pd.DataFrame, churn_model, clv_model, churn_directory, models: str, lapsed: pd.DataFrame) -> Scored:
    """The list, its campaign figures, the population drift and the win-back list, in memory: nothing written yet."""
    customers, summary = score_customers(scoring, churn_model, clv_model, list_settings(params), uplift_scores(params))
    drift = population_drift(artifacts.load_reference(churn_directory), churn_model, scoring, params.score.drift_psi_threshold)
    as_of = customers["as_of"].iloc[0] if len(customers) else None
    win_back = win_back_list(lapsed, as_of, params.features.active_days)
    metrics = {
        "as_of": as_of, "customers": len(customers), "lapsed_customers": len(win_back), "models": models, "campaign": summary,
        "ranked_by": {"by": params.campaign.rank_by, "why": RANKINGS[params.campaign.rank_by]},
    }
    return Scored(customers, metrics, drift, win_back)


def publish(params: config.Params, scored: Scored) -> None:
    """Write the list, its campaign figures and the drift report (all put in place together); log the run."""
    with files.publishing("score") as publication:
        files.write_json(scored.drift, publication.staged(config.DRIFT_METRICS))
        files.write_spreadsheet_csv(scored.customers, publication.staged(config.SCORED_CUSTOMERS))
        files.write_spreadsheet_csv(scored.win_back, publication.staged(config.WIN_BACK))
        files.write_parquet(scored.customers, publication.staged(config.SCORED_CUSTOMERS_PARQUET))
        files.write_json(scored.metrics, publication.staged(config.CAMPAIGN_METRICS))
    _log_run(params, scored.metrics)


def champion_registered() -> bool:
    """Whether the gate has named a champion churn and value model (`churn retrain`)."""
    mlflow.set_tracking_uri(config.tracking_uri())
    client = mlflow.MlflowClient()
    return all(tracking.aliased_version(client, name, tracking.CHAMPION_ALIAS) is not None for name in ("churn", "clv"))


def run(params: config.Params, alias: str | None = None, as_of: dt.date | None = None) -> Scored:
    """Score with the models under `alias`; by default with the champions, or, until the gate has
    named them, with the models the pipeline just trained. So `dvc repro` publishes the list
    `churn retrain` published, never that of a challenger the gate kept out."""
    scoring, lapsed = snapshot(params, as_of)
    if alias is None and champion_registered():
        alias = tracking.CHAMPION_ALIAS
    if alias is None:
        loaded = artifacts.load_churn_model(config.CHURN_MODEL), artifacts.load_clv_model(config.CLV_MODEL), config.CHURN_MODEL
    else:
        loaded = registered_models(alias)
    scored = score(params, scoring, *loaded, models=alias or "pipeline (no champion yet)", lapsed=lapsed)
    publish(params, scored)
    return scored


def _log_run(params: config.Params, metrics: dict) -> None:
    mlflow.set_tracking_uri(config.tracking_uri())
    mlflow.set_experiment(params.tracking.experiment)
    with tracking.start_run("score", nested=True):  # nested under `churn retrain`'s run when it scores
        mlflow.log_params({f"campaign.{key}": value for key, value in params.campaign.model_dump().items()} | {"models": metrics["models"]})
        mlflow.log_metrics({f"{name}.{key}": value for name, figures in metrics["campaign"].items() for key, value in figures.items()})
        mlflow.log_metric("customers", metrics["customers"])
        mlflow.log_dict(metrics, "campaign.json")
