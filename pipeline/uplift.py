"""Stage `uplift`: a campaign that ran, read back arm by arm; who it changes, learnt per arm and
scored for every customer of `data.customers` (docs/uplift.md).

It reads `data.customers` and `data.campaign` itself, so that it runs on a campaign and
customer facts alone, with no transactions. Without `data.campaign` it writes an empty list and
says so: the stage is always in dvc.yaml and costs nothing until a campaign is mapped.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from features.sources import Ingested, customer_attribute
from features.validation import QUARANTINE_COLUMNS
from models import experiment, uplift
from pipeline import artifacts, config, files, tracking
from pipeline.ingest import Engine, read_source, summary_line

SCORE_COLUMNS = ["customer_id", "arm", "uplift"]
QUARANTINED = ("campaign", "customers")  # the sources it reads itself
QINI_COLUMNS = ["outcome", "arm", "ranking", "fraction", "incremental"]


def settings(params: config.UpliftParams, num_threads: int) -> uplift.UpliftSettings:
    return uplift.UpliftSettings(
        holdout_share=params.holdout_share, rounds=params.rounds, seed=params.seed,
        lightgbm=dict(params.lightgbm) | {"num_threads": num_threads},
    )


def outcomes_learnt(params: config.Params) -> list[str]:
    """The outcome `uplift` is the change in, then the money outcome behind incremental_profit."""
    source, chosen = params.data.campaign, params.uplift
    wanted = [chosen.outcome] + ([chosen.value_outcome] if chosen.value_outcome and chosen.value_outcome != chosen.outcome else [])
    unknown = [name for name in wanted if name not in source.outcomes]
    if unknown:
        raise config.ConfigError(f"uplift: {', '.join(unknown)} not among data.campaign.outcomes {source.outcomes}")
    return wanted


def read_sources(params: config.Params) -> dict[str, Ingested]:
    """data.campaign, and data.customers when mapped, read and validated as ingest reads every source."""
    with_transactions = params.data.transactions is not None and params.data.campaign.sent_at is not None
    if not with_transactions and (params.data.customers is None or not params.data.customers.attributes):
        raise config.ConfigError(
            "uplift: map data.customers with its attributes (what the uplift models learn from), or data.transactions "
            "and data.campaign.sent_at (the customers' features at the send date)")
    names = ["campaign"] + (["customers"] if params.data.customers is not None else [])
    engine = Engine(params.features.memory_limit, params.features.threads)
    read = {name: read_source(name, getattr(params.data, name), params.data.parse, engine) for name in names}
    for name, result in read.items():
        if result.clean.empty:
            raise files.InputError(f"no valid {name} rows: {summary_line(name, getattr(params.data, name).path, result.summary)}")
    return read


@dataclass(frozen=True)
class LearningData:
    """What the uplift models learn from and whom they score."""

    learnt_from: pd.DataFrame
    """the campaign's customers: arm, outcomes, features"""
    population: pd.DataFrame
    """the customers to score: customer_id and the features"""
    features: list[str]
    comparisons: dict[str, str]
    """{ranking's name: column of learnt_from}: what a team without uplift would rank by"""
    basis: str


def learning_data(params: config.Params, campaign: pd.DataFrame, customers: pd.DataFrame | None) -> LearningData:
    """From customer attributes alone; or, with transactions and a send date, the snapshot
    features at the send date (only what was known then) and the attributes, scoring the
    customers of the scoring snapshot."""
    attributes = [customer_attribute(attribute) for attribute in (params.data.customers.attributes if params.data.customers else [])]
    facts = customers.drop(columns="source_row") if customers is not None else pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    rank_by = customer_attribute(params.uplift.rank_by) if params.uplift.rank_by else None
    if rank_by and rank_by not in attributes:
        raise config.ConfigError(f"uplift.rank_by: {params.uplift.rank_by!r} is not one of data.customers.attributes")
    comparisons = {f"by {params.uplift.rank_by}": rank_by} if rank_by else {}
    if params.data.transactions is None or params.data.campaign.sent_at is None:
        learnt_from = campaign.merge(facts, on="customer_id", how="inner")
        return LearningData(learnt_from, facts, attributes, comparisons, "customer attributes")

    from pipeline.featurize import scoring_snapshot

    sent = campaign["sent_at"].min().normalize()  # the start of the first send day: only what was known before it
    current, lapsed = scoring_snapshot(params, sent.to_pydatetime())
    # The lapsed at the send date have transaction features only: the attributes are joined to every row here.
    at_send = pd.concat([current, lapsed], ignore_index=True).drop(columns=["cutoff", *attributes], errors="ignore")
    # A feature named like a campaign column (spend, an outcome) is renamed in what is learnt from and in what is scored alike.
    renamed = {column: f"{column}_feature" for column in at_send.columns if column in campaign.columns and column != "customer_id"}
    at_send = at_send.rename(columns=renamed)
    snapshot_features = [column for column in at_send.columns if column != "customer_id"]
    learnt_from = campaign.merge(at_send, on="customer_id", how="left").merge(facts, on="customer_id", how="left")
    if config.CHURN_MODEL.exists():
        learnt_from["churn_probability_at_send"] = artifacts.load_churn_model(config.CHURN_MODEL).predict(learnt_from)
        comparisons["by churn risk"] = "churn_probability_at_send"
    population = pd.read_parquet(config.SCORING_SNAPSHOT).rename(columns=renamed)  # with the attributes, as the snapshots join them
    return LearningData(learnt_from, population, snapshot_features + attributes, comparisons,
                        f"the snapshot features at {sent:%Y-%m-%d} and the customer attributes")


def learn(data: LearningData, campaign: pd.DataFrame, params: config.Params) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """The scores for every customer, the metrics and the Qini curves: the stage without its files."""
    source, chosen = params.data.campaign, params.uplift
    outcomes = outcomes_learnt(params)
    arms = sorted(set(campaign["arm"]) - {source.control})
    if source.control not in set(campaign["arm"]) or not arms:
        raise files.InputError(
            f"{source.path}: column {source.arm!r} must hold the control arm {source.control!r} (data.campaign.control) and at least one other; "
            f"it holds {sorted(set(campaign['arm']))}")
    learnt_from, customers, features = data.learnt_from, data.population, data.features
    fitting = settings(chosen, params.train.num_threads)

    scores = customers[["customer_id"]].merge(pd.DataFrame({"arm": arms}), how="cross")
    evaluation, curves = {}, []
    for outcome in outcomes:
        for arm, model in uplift.fit_arms(learnt_from, features, arms, source.control, outcome, fitting).items():
            scores.loc[scores["arm"] == arm, outcome] = model.predict(customers)
        for arm in arms:
            judged = uplift.judge_arm(learnt_from, features, arm, source.control, outcome, fitting, compare_with=data.comparisons)
            evaluation.setdefault(outcome, {})[arm] = judged.evaluation
            curves.append(judged.qini.assign(outcome=outcome, arm=arm))
    scores = scores.rename(columns={chosen.outcome: "uplift"})
    if chosen.value_outcome:
        money = "uplift" if chosen.value_outcome == chosen.outcome else f"uplift_{chosen.value_outcome}"
        scores = scores.rename(columns={chosen.value_outcome: money})
        scores["incremental_profit"] = scores[money] * params.campaign.margin - params.campaign.contact_cost
    scores = scores.sort_values(["customer_id", "arm"], kind="stable").reset_index(drop=True).round(6)

    effects = experiment.arm_effects(campaign, "arm", source.control, source.outcomes)
    metrics = {
        "campaign": {
            "customers": len(campaign), "learnt_from": len(learnt_from), "control": source.control,
            "arms": {str(arm): int(count) for arm, count in campaign["arm"].value_counts().sort_index().items()},
            "effects": effects,
        },
        "outcome": chosen.outcome, "features": features, "learnt_from": data.basis, "held_out_share": chosen.holdout_share,
        "evaluation": evaluation, "scored_customers": int(customers["customer_id"].nunique()), "arms_scored": arms,
    }
    if chosen.value_outcome:
        metrics["campaign"]["incremental_profit_per_contact"] = {
            arm: experiment.incremental_profit(by_outcome[chosen.value_outcome], params.campaign.margin, params.campaign.contact_cost)
            for arm, by_outcome in effects.items()
        }
    return scores, metrics, pd.concat(curves, ignore_index=True)[QINI_COLUMNS]


def flat_metrics(metrics: dict) -> dict[str, float]:
    """The figures MLflow keeps: each arm's effects and each ranking's uplift at k and Qini."""
    flat = {}
    for arm, by_outcome in metrics["campaign"]["effects"].items():
        for outcome, figures in by_outcome.items():
            flat |= {f"effect.{arm}.{outcome}.{key}": figures[key] for key in ("effect", "low", "high")}
    for outcome, by_arm in metrics["evaluation"].items():
        for arm, by_ranking in by_arm.items():
            for ranking, figures in by_ranking.items():
                flat |= {f"{outcome}.{arm}.{ranking}.uplift_at_{k}": value for k, value in figures["uplift_at"].items()}
                flat |= {f"{outcome}.{arm}.{ranking}.qini": figures["qini"], f"{outcome}.{arm}.random": figures["random"]}
    # MLflow keys allow letters, digits and _-./ and spaces only
    return {"".join(c if c.isalnum() or c in "_-./ " else "_" for c in key): float(value) for key, value in flat.items() if np.isfinite(value)}


def qini_figure(curves: pd.DataFrame, outcome: str, arm: str) -> Figure:
    figure = Figure(figsize=(5, 4))
    axis = figure.subplots()
    for ranking, curve in curves[(curves["outcome"] == outcome) & (curves["arm"] == arm)].groupby("ranking", sort=False):
        axis.plot(curve["fraction"], curve["incremental"], label=ranking)
    final = curves.loc[(curves["outcome"] == outcome) & (curves["arm"] == arm), "incremental"].iloc[-1]
    axis.plot([0, 1], [0, final], linestyle="--", color="grey", label="random targeting")
    axis.set(xlabel="share of customers contacted, by ranking", ylabel=f"incremental {outcome} per customer", title=f"Qini: {arm}")
    axis.legend()
    return figure


def run(params: config.Params) -> dict:
    if params.data.campaign is None:
        metrics = {"campaign": None, "note": "data.campaign is not mapped: no campaign to read back or learn from"}
        with files.publishing("uplift") as publication:
            for name in QUARANTINED:  # nothing read, nothing quarantined
                files.write_spreadsheet_csv(pd.DataFrame(columns=list(QUARANTINE_COLUMNS)), publication.staged(config.UPLIFT_QUARANTINE / f"{name}.csv"))
            files.write_spreadsheet_csv(pd.DataFrame(columns=SCORE_COLUMNS), publication.staged(config.UPLIFT_SCORES))
            files.write_csv(pd.DataFrame(columns=QINI_COLUMNS), publication.staged(config.UPLIFT_PLOTS / "qini.csv"))
            files.write_json(metrics, publication.staged(config.UPLIFT_METRICS))
        return metrics

    read = read_sources(params)
    customers = read["customers"].clean if "customers" in read else None
    scores, metrics, curves = learn(learning_data(params, read["campaign"].clean, customers), read["campaign"].clean, params)
    metrics["ingest"] = {name: result.summary for name, result in read.items()}
    tracking.start_tracking(params.tracking.experiment)
    with files.publishing("uplift") as publication, tracking.start_run("uplift"):
        mlflow.log_params({f"uplift.{key}": value for key, value in params.uplift.model_dump().items()})
        mlflow.log_metrics(flat_metrics(metrics))
        for outcome, by_arm in metrics["evaluation"].items():
            for arm in by_arm:
                mlflow.log_figure(qini_figure(curves, outcome, arm), f"qini/{outcome}/{arm}.png")
        files.write_spreadsheet_csv(scores, publication.staged(config.UPLIFT_SCORES))
        files.write_csv(curves, publication.staged(config.UPLIFT_PLOTS / "qini.csv"), float_format="%.6g")
        files.write_json(metrics, publication.staged(config.UPLIFT_METRICS))
        for name in QUARANTINED:
            target = config.UPLIFT_QUARANTINE / f"{name}.csv"
            if name in read:
                files.write_spreadsheet_csv(read[name].quarantine, publication.staged(target))
            else:
                publication.remove(target)
    for name, result in read.items():
        print(summary_line(name, getattr(params.data, name).path, result.summary), file=sys.stderr)
    return metrics
