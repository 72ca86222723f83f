"""Stage `train_clv`: backtest the spend model on the churn model's folds, fit it, log and register it.

The same procedure and bookkeeping as stage `train` (pipeline/train.py): a parent MLflow run,
nested runs per fold and per trial, resumable studies, the model registered as `clv` with the
alias `challenger`. The baselines are BG/NBD and Pareto/NBD, each x Gamma-Gamma.
"""

from __future__ import annotations

from collections.abc import Callable

import mlflow
import pandas as pd

from models import backtest, clv
from pipeline import artifacts, config, files, tracking
from pipeline.train import (
    PROCEDURE_ARTIFACT,
    backtest_then_fit,
    fingerprint,
    fit_in_nested_run,
    log_backtest,
    log_explained_model,
    procedure_record,
    settings,
    trainable_folds,
    write_evaluation,
)


def clv_procedure(recorded: dict) -> Callable[[pd.DataFrame, str], tuple]:
    """The value model's training procedure a run records (`procedure_record`): fit(labelled, name) -> (model, report)."""
    train, value, horizon = config.TrainParams(**recorded["train"]), config.ClvParams(**recorded["clv"]), recorded["horizon_days"]
    search = settings(train, value.lightgbm)
    prefix = f"clv-{fingerprint(train.model_dump(), value.model_dump(), horizon)}"

    def fit(labelled: pd.DataFrame, name: str):
        return fit_in_nested_run(
            name, f"{prefix}-{name}", train.seed, "validation_tweedie_loss",
            lambda study, callbacks: clv.fit_clv_model(labelled, horizon, search, study, callbacks, value.btyd_features),
        )

    return fit


def run(params: config.Params) -> dict:
    training = pd.read_parquet(config.TRAINING_SNAPSHOTS)
    horizon = params.score.horizon_days
    folds = trainable_folds(training, params)
    tracking.start_tracking(params.tracking.experiment)
    procedure = procedure_record(params, "train", "clv")
    fit = clv_procedure(procedure)

    with files.publishing("train_clv") as publication, tracking.start_run("train_clv"):
        staged = publication.staged
        scores, metrics, model, report = backtest_then_fit(
            training, folds, fit,
            lambda fold, model: backtest.value_fold_scores(fold, clv.spend(fold.evaluation), model.predict(fold.evaluation), horizon),
            artifacts.save_clv_model, staged(config.CLV_FOLD_MODELS), params.train,
        )
        metrics["final"]["btyd_features"] = params.clv.btyd_features
        model_dir, scores_path = staged(config.CLV_MODEL), staged(config.CLV_BACKTEST)
        artifacts.save_clv_model(model, model_dir)
        curves = backtest.value_curves(scores)
        write_evaluation(scores, metrics, curves, scores_path, staged(config.CLV_METRICS), staged(config.CLV_PLOTS))

        mlflow.log_params(
            {
                "horizon_days": horizon,
                "n_trials": params.train.n_trials,
                "backtest_folds": params.train.backtest_folds,
                "btyd_features": params.clv.btyd_features,
                **{f"tuned.{key}": value for key, value in report.params.items()},
            }
        )
        log_backtest(metrics, "clv", scores_path)
        tracking.log_curves(curves, {kind: axes for kind, (_, axes) in backtest.VALUE_CURVES.items()})
        if params.clv.btyd_features:
            training = clv.with_btyd_features(training, horizon)
        log_explained_model("clv", model_dir, model, training, "log spend")
        mlflow.log_dict(procedure, PROCEDURE_ARTIFACT)
    return metrics
