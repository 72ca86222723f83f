"""Stage `train`: backtest the churn procedure, fit the model to ship, log and register it.

One MLflow parent run per stage run; inside it a nested run per backtest fold and one for the
final fit, each with a nested run per Optuna trial. Studies live in SQLite (data/studies, a side
store like mlflow.db, not a DVC output) under a name that fingerprints the training data and
params, so an interrupted run resumes its study and a rerun on the same inputs reuses it
instead of searching again.
"""

from __future__ import annotations

import hashlib
import json

import mlflow
import optuna
import pandas as pd
from optuna_integration import MLflowCallback

from models import backtest, churn
from models.tuning import new_study
from pipeline import artifacts, config, io, tracking

SHAP_ROWS = 2000  # enough for a stable mean |SHAP| per feature, quick on any data size


def settings(params: config.TrainParams) -> churn.TrainingSettings:
    return churn.TrainingSettings(
        lightgbm=dict(params.lightgbm),
        seed=params.seed,
        num_threads=params.num_threads,
        max_rounds=params.max_rounds,
        early_stopping_rounds=params.early_stopping_rounds,
        n_trials=params.n_trials,
        timeout_seconds=params.timeout_seconds,
        calibration=params.calibration,
        validation_cutoffs=params.validation_cutoffs,
    )


def fingerprint(params: config.Params) -> str:
    digest = hashlib.sha256(config.TRAINING_SNAPSHOTS.read_bytes())
    digest.update(json.dumps([params.train.model_dump(), params.score.horizon_days], sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]


def _fit(labelled: pd.DataFrame, name: str, params: config.Params, study_prefix: str):
    """The churn procedure in a nested run named `name`, its trials nested below it."""
    storage = f"sqlite:///{(config.STUDIES / 'churn.db').as_posix()}"
    study = new_study(f"{study_prefix}-{name}", storage, params.train.seed)
    trial_logger = MLflowCallback(metric_name="validation_log_loss", create_experiment=False, mlflow_kwargs={"nested": True})
    with mlflow.start_run(run_name=name, nested=True):
        model, report = churn.fit_churn_model(labelled, params.score.horizon_days, settings(params.train), study, [trial_logger])
        mlflow.log_params({f"tuned.{key}": value for key, value in report.params.items()})
        mlflow.log_metrics({"validation_log_loss": report.validation_log_loss, "boosting_rounds": report.boosting_rounds})
    return model, report


def run(params: config.Params) -> dict:
    training = pd.read_parquet(config.TRAINING_SNAPSHOTS)
    horizon = params.score.horizon_days
    folds = backtest.folds(training, horizon, params.train.backtest_folds, params.train.validation_cutoffs)
    config.STUDIES.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    mlflow.set_tracking_uri(config.tracking_uri())
    mlflow.set_experiment(params.tracking.experiment)
    prefix = f"churn-{fingerprint(params)}"

    with mlflow.start_run(run_name="train"):
        scores = []
        for fold in folds:
            model, _ = _fit(fold.labelled, f"backtest-{fold.cutoff:%Y-%m-%d}", params, prefix)
            scores.append(backtest.fold_scores(fold, model, horizon))
        scores = pd.concat(scores, ignore_index=True)
        model, report = _fit(training, "final", params, prefix)

        per_fold = backtest.fold_metrics(scores)
        metrics = {
            "backtest": backtest.summary(per_fold),
            "folds": per_fold,
            "final": {
                "validation_cutoffs": [f"{cutoff:%Y-%m-%d}" for cutoff in report.validation_cutoffs],
                "validation_log_loss": report.validation_log_loss,
                "boosting_rounds": report.boosting_rounds,
                "features": len(model.features),
                "refit_rows": report.refit_rows,
                "trials": report.trials,
                "calibration": params.train.calibration,
            },
        }
        artifacts.save_churn_model(model, config.CHURN_MODEL)
        io.write_parquet(scores, config.CHURN_BACKTEST)
        io.write_json(metrics, config.CHURN_METRICS)
        curves = backtest.curves(scores)
        for kind, lines in curves.items():
            for method, points in lines.items():
                io.write_csv(points, config.CHURN_PLOTS / kind / f"{method}.csv", float_format="%.6g")
        _log_run(params, metrics, report, model, training, curves)
    return metrics


def _log_run(params: config.Params, metrics: dict, report: churn.FitReport, model: churn.ChurnModel, training: pd.DataFrame, curves) -> None:
    mlflow.log_params(
        {
            "horizon_days": params.score.horizon_days,
            "training_cutoffs": params.features.training_cutoffs,
            "cutoff_spacing_days": params.features.cutoff_spacing_days,
            "n_trials": params.train.n_trials,
            "calibration": params.train.calibration,
            "backtest_folds": params.train.backtest_folds,
            "validation_cutoffs": params.train.validation_cutoffs,
            **{f"tuned.{key}": value for key, value in report.params.items()},
        }
    )
    for method, summary in metrics["backtest"].items():
        mlflow.log_metrics({f"backtest.{method}.{name}.{stat}": value for name, stats in summary.items() for stat, value in stats.items()})
    mlflow.log_dict(metrics, "metrics/churn.json")
    mlflow.log_dict(json.loads(config.FEATURES_METRICS.read_text()), "features.json")
    tracking.log_curves(curves, {kind: axes for kind, (_, axes) in backtest.CURVES.items()})

    importance = pd.Series(model.booster.feature_importance("gain"), index=model.features, name="gain")
    mlflow.log_text(importance.sort_values(ascending=False).to_csv(), "feature_importance.csv")
    latest = training[training["cutoff"] == training["cutoff"].max()]
    shap = model.contributions(latest.head(SHAP_ROWS)).abs().mean().rename("mean_abs_shap")
    mlflow.log_text(shap.sort_values(ascending=False).to_csv(), "shap_summary.csv")
    tracking.log_bar_chart(shap.nlargest(20), "mean |SHAP| (log-odds), latest labelled cutoff", "shap_summary.png")

    example = training[model.features].head(5)
    version = tracking.log_and_register_churn_model(config.CHURN_MODEL, example, model.predict(example))
    mlflow.set_tag("registered_version", version)
