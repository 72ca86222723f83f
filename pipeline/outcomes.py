"""Stage `outcomes`: how the lists built at the backtest cutoffs would have done.

At each backtest fold, the churn and value models fitted there (by stages `train@churn` and
`train@clv`, on labels that had closed by the fold's cutoff) score the fold's customers through
`score_customers`, the code `churn score` runs, and models/outcomes.py sets the list against what
those customers did next. Metrics per fold and pooled, curves pooled over the folds.
"""

from __future__ import annotations

from functools import partial

import mlflow
import pandas as pd

from features.snapshots import LABEL_COLUMNS
from models import backtest
from models import outcomes as measure
from models.customer_list import score_customers
from pipeline import artifacts, config, files, tracking, training_rows
from pipeline.score import list_settings
from pipeline.train import fold_directory


def fold_models(cutoff: pd.Timestamp) -> tuple:
    """The churn and value models stages `train@churn` and `train@clv` fitted at the backtest fold at `cutoff`."""
    return (artifacts.load_churn_model(fold_directory(config.CHURN_FOLD_MODELS, cutoff)),
            artifacts.load_clv_model(fold_directory(config.CLV_FOLD_MODELS, cutoff)))


def list_outcomes(params: config.Params, evaluation: pd.DataFrame, churn_model, clv_model) -> pd.DataFrame:
    """The list the models would have built from the snapshot `evaluation`, with what happened next."""
    # Scored as `churn score` scores a snapshot: without the labels it could not have known.
    customers, _ = score_customers(evaluation.drop(columns=list(LABEL_COLUMNS)), churn_model, clv_model, list_settings(params))
    return measure.outcomes(customers, evaluation).assign(cutoff=evaluation["cutoff"].iloc[0])


def fold_outcomes(params: config.Params, fold: backtest.Fold) -> pd.DataFrame:
    """The list as it would have been built at the fold's cutoff, with what happened next."""
    return list_outcomes(params, fold.evaluation, *fold_models(fold.cutoff))


def run(params: config.Params) -> dict:
    cutoffs = pd.read_parquet(config.TRAINING_SNAPSHOTS, columns=["cutoff"])  # the folds' customers are read one cutoff at a time
    folds = backtest.folds(cutoffs, params.score.horizon_days, params.train.backtest_folds, partial(training_rows.at_cutoff, config.TRAINING_SNAPSHOTS))
    campaign = list_settings(params).campaign
    rows = pd.concat([fold_outcomes(params, fold) for fold in folds], ignore_index=True)
    per_fold = {f"{cutoff:%Y-%m-%d}": measure.list_metrics(part, campaign) for cutoff, part in rows.groupby("cutoff", sort=True)}
    latest = list(per_fold)[-1]
    metrics = {
        "horizon_days": params.score.horizon_days, "latest": latest, "pooled": measure.list_metrics(rows, campaign), "folds": per_fold,
        "pooled_intervals": measure.intervals(rows, campaign, params.train.bootstrap_replicates, params.train.seed),
    }
    curves = measure.curves(rows)

    tracking.start_tracking(params.tracking.experiment)
    with files.publishing("outcomes") as publication, tracking.start_run("outcomes"):
        files.write_json(metrics, publication.staged(config.OUTCOME_METRICS))
        for name, points in curves.items():
            files.write_csv(points, publication.staged(config.OUTCOME_PLOTS / f"{name}.csv"), float_format="%.6g")
        mlflow.log_metrics(
            {f"pooled.{name}": value for name, value in measure.flat_figures(metrics["pooled"]).items()}
            | {f"latest.{name}": value for name, value in measure.flat_figures(per_fold[latest]).items()}
            | {f"pooled.{name}.{end}": figures[end] for name, figures in metrics["pooled_intervals"].items() for end in ("low", "high")}
        )
        mlflow.log_dict(metrics, "outcomes.json")
    return metrics
