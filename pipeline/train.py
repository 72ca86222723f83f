"""Stage `train` (`churn train MODEL`): backtest a model's procedure, fit the model to ship, log and register it.

One DVC stage per model in `train.models` (dvc.yaml's foreach); the model's own file in models/
says how it is fitted and judged (models/base.py). One MLflow parent run per stage run; inside
it a nested run per backtest fold and one for the final fit, each with a nested run per Optuna
trial. Studies live in SQLite (data/studies, a side store like mlflow.db, not a DVC output)
under a name that fingerprints the training data and params, so an interrupted run resumes its
study and a rerun on the same inputs reuses it instead of searching again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import optuna
import pandas as pd
from optuna_integration import MLflowCallback

from models import backtest
from models.base import Procedure, procedure
from models.training import FitReport, TrainingSettings, require_both_outcomes
from models.tuning import new_study
from pipeline import artifacts, config, files, tracking, training_rows

SHAP_ROWS = 2000  # enough for a stable mean |SHAP| per feature, quick on any data size


def settings(params: config.TrainParams, lightgbm: dict) -> TrainingSettings:
    """The search settings of the `train` section, starting from a model's `lightgbm` values."""
    return TrainingSettings(
        lightgbm=dict(lightgbm),
        seed=params.seed,
        num_threads=params.num_threads,
        max_rounds=params.max_rounds,
        early_stopping_rounds=params.early_stopping_rounds,
        n_trials=params.n_trials,
        timeout_seconds=params.timeout_seconds,
        validation_cutoffs=params.validation_cutoffs,
        search_rows_per_cutoff=params.search_rows_per_cutoff,
    )


def fingerprint(*sections) -> str:
    """The training data and the params sections given: a study reused only when all are unchanged."""
    with config.TRAINING_SNAPSHOTS.open("rb") as snapshots:
        digest = hashlib.file_digest(snapshots, "sha256")
    digest.update(json.dumps(sections, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]


def fit_in_nested_run(name: str, study_name: str, seed: int, loss_name: str, fit: Callable[[optuna.Study, list], tuple]):
    """`fit(study, trial_callbacks)` in a nested run named `name`, its Optuna trials nested below it."""
    config.STUDIES.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{(config.STUDIES / 'studies.db').as_posix()}"
    study = new_study(study_name, storage, seed)
    trial_logger = MLflowCallback(metric_name=loss_name, create_experiment=False, mlflow_kwargs={"nested": True})
    with tracking.start_run(name, nested=True):
        model, report = fit(study, [trial_logger])
        mlflow.log_params({f"tuned.{key}": value for key, value in report.params.items()})
        mlflow.log_metrics({loss_name: report.validation_loss, "boosting_rounds": report.boosting_rounds})
    return model, report


def backtest_then_fit(
    training: pd.DataFrame, folds: list[backtest.Fold], fit, score_fold, save_model, fold_models: Path, train: config.TrainParams
) -> tuple[pd.DataFrame, dict, object, FitReport]:
    """`fit` at every fold, `score_fold` its customers and `save_model` it under `fold_models` (the
    outcome backtest of the list scores with it), then `fit` the model to ship on all of `training`.

    Returns the backtest scores, the metrics (each method's with its 95% interval, the model's paired
    advantage over each baseline, each fold's, the final fit's), the model and its report.
    """
    shutil.rmtree(fold_models, ignore_errors=True)  # no fold of an earlier run left beside this run's
    parts, validated_by, reused = [], {}, None
    for fold, fold_model, fold_report, reused in fold_fits(folds, fit, train.tune, "backtest"):
        save_model(fold_model, fold_directory(fold_models, fold.cutoff))
        parts.append(score_fold(fold, fold_model))
        validated_by[f"backtest-{fold.cutoff:%Y-%m-%d}"] = fold_report.validated_by
    scores = pd.concat(parts, ignore_index=True)
    model, report = fit(training, "final", reused)
    validated_by["final"] = report.validated_by
    overall, paired = backtest.summary(scores, train.bootstrap_replicates, train.seed)
    final = {
        "validation_cutoffs": [f"{cutoff:%Y-%m-%d}" for cutoff in report.validation_cutoffs],
        "validation_loss": report.validation_loss,
        "boosting_rounds": report.boosting_rounds,
        "features": len(model.features),
        "refit_rows": report.refit_rows,
        "trials": report.trials,
    }
    metrics = {
        "backtest": overall, "model_advantage": paired, "folds": backtest.fold_metrics(scores), "final": final,
        "validated_by": validated_by,  # "time", or "customer" where the history was too short (models/training.py)
    }
    return scores, metrics, model, report


def fold_fits(folds: list[backtest.Fold], fit, tune: str, prefix: str) -> Iterator[tuple[backtest.Fold, object, FitReport, dict | None]]:
    """`fit` at each fold, oldest first, in a run named `prefix`-cutoff: each fold, its model, its report
    and the parameters later fits reuse (`train.tune: oldest_fold`: the oldest fold's search; else None)."""
    reused = None
    for fold in folds:
        model, report = fit(fold.labelled, f"{prefix}-{fold.cutoff:%Y-%m-%d}", reused)
        if tune == "oldest_fold" and reused is None:
            reused = report.params
        yield fold, model, report, reused


def trainable_folds(training: pd.DataFrame, params: config.Params) -> list[backtest.Fold]:
    """The backtest folds the history holds (up to train.backtest_folds), once it is clear that
    each fit can train and validate: else one sentence saying what is missing. Where `training`
    is a sample, each fold is judged on every customer at its cutoff."""
    train, horizon = params.train, params.score.horizon_days
    folds = training_rows.backtest_folds(config.TRAINING_SNAPSHOTS, training, horizon, train.backtest_folds)
    # The oldest fold has the least to learn from: if it can train and validate, every fit can.
    for labelled, where in ((folds[0].labelled, f"the backtest fold at {folds[0].cutoff:%Y-%m-%d}"), (training, "the final fit")):
        require_both_outcomes(labelled, horizon, train.validation_cutoffs, train.min_outcomes, where)
    if len(folds) < train.backtest_folds:
        print(f"train: the history holds {len(folds)} of the {train.backtest_folds} backtest folds asked (train.backtest_folds)", file=sys.stderr)
    return folds


def fold_directory(fold_models: Path, cutoff: pd.Timestamp) -> Path:
    """Where the model of the backtest fold at `cutoff` is kept."""
    return Path(fold_models) / f"{pd.Timestamp(cutoff):%Y-%m-%d}"


def write_evaluation(scores: pd.DataFrame, metrics: dict, curves: dict[str, dict[str, pd.DataFrame]], scores_path, metrics_path, plots_dir) -> None:
    files.write_parquet(scores, scores_path)
    files.write_json(metrics, metrics_path)
    for kind, lines in curves.items():
        for method, points in lines.items():
            files.write_csv(points, plots_dir / kind / f"{method}.csv", float_format="%.6g")


PROCEDURE_ARTIFACT = "procedure.json"  # what `churn promote` replays to compare a champion's procedure with a challenger's


def recorded_procedure(name: str, recorded: dict) -> Procedure:
    """The procedure of model `name` with the settings a run recorded (`procedure_record`)."""
    train = config.TrainParams(**recorded["train"])
    own = recorded.get(name, {})
    return procedure(name)(settings(train, own.get("lightgbm", {})), own, recorded["horizon_days"])


def fitter(name: str, recorded: dict) -> Callable[..., tuple]:
    """The training procedure a run records, as fit(labelled, run name, reused=None) -> (model, report),
    each fit a nested run. With `reused` parameters the fit searches nothing: it takes them, and
    early stopping on its own validation cutoffs picks the rounds (`train.tune: oldest_fold`)."""
    chosen = recorded_procedure(name, recorded)
    sections = [recorded["train"]] + ([recorded[name]] if name in recorded else [])
    prefix = f"{name}-{fingerprint(*sections, recorded['horizon_days'])}"

    def fit(labelled: pd.DataFrame, run_name: str, reused: dict | None = None):
        fitting = chosen if reused is None else type(chosen)(
            dataclasses.replace(chosen.search, lightgbm=reused, n_trials=1), chosen.own, chosen.horizon_days)
        return fit_in_nested_run(run_name, f"{prefix}-{run_name}", chosen.search.seed, chosen.loss,
                                 lambda study, callbacks: fitting.fit(labelled, study, callbacks))

    return fit


def procedure_record(params: config.Params, name: str) -> dict:
    """Everything model `name`'s procedure depends on besides the code and the data: the `train` section, its own, the horizon."""
    return {"train": params.train.model_dump(mode="json")} | params.model_section(name) | {"horizon_days": params.score.horizon_days}


def run(params: config.Params, name: str) -> dict:
    if name not in params.train.models:
        raise config.ConfigError(f"{name!r} is not among train.models ({', '.join(params.train.models)}) in params.yaml")
    training = training_rows.read(config.TRAINING_SNAPSHOTS, params.train.rows_per_cutoff, params.train.seed)
    folds = trainable_folds(training, params)
    tracking.start_tracking(params.tracking.experiment)
    recorded = procedure_record(params, name)
    chosen, fit, outputs = recorded_procedure(name, recorded), fitter(name, recorded), config.ModelOutputs(name)

    with files.publishing(f"train_{name}") as publication, tracking.start_run(f"train_{name}"):
        staged = publication.staged
        scores, metrics, model, report = backtest_then_fit(
            training, folds, fit, chosen.evaluate, artifacts.save_model, staged(outputs.fold_models), params.train,
        )
        metrics["final"] |= chosen.details()
        model_dir, scores_path = staged(outputs.model), staged(outputs.backtest)
        artifacts.save_model(model, model_dir)
        if chosen.drift_checked:
            artifacts.save_reference(artifacts.reference_profile(model, training), model_dir)
        points = chosen.plot_points(scores)
        write_evaluation(scores, metrics, points, scores_path, staged(outputs.metrics), staged(outputs.plots))

        mlflow.log_params(
            {
                "horizon_days": params.score.horizon_days,
                "training_cutoffs": params.features.training_cutoffs,
                "cutoff_spacing_days": params.features.cutoff_spacing_days,
                "n_trials": params.train.n_trials,
                "backtest_folds": params.train.backtest_folds,
                "validation_cutoffs": params.train.validation_cutoffs,
                **chosen.details(),
                **{f"tuned.{key}": value for key, value in report.params.items()},
            }
        )
        log_backtest(metrics, name, scores_path)
        mlflow.log_dict(json.loads(config.FEATURES_METRICS.read_text()), "features.json")
        tracking.log_curves(points, {kind: axes for kind, (_, axes) in chosen.curves.items()})
        log_explained_model(name, model_dir, model, chosen.explained(training), chosen.shap_units)
        mlflow.log_dict(recorded, PROCEDURE_ARTIFACT)
    return metrics


def log_backtest(metrics: dict, name: str, scores_path) -> None:
    mlflow.log_artifact(str(scores_path), tracking.BACKTEST_ARTIFACT)
    for section in ("backtest", "model_advantage"):
        for method, summary in metrics[section].items():
            mlflow.log_metrics({f"{section}.{method}.{metric}.{stat}": value for metric, stats in summary.items() for stat, value in stats.items()})
    mlflow.log_dict(metrics, f"metrics/{name}.json")


def log_explained_model(registered_name: str, model_dir, model, training: pd.DataFrame, shap_units: str) -> None:
    """Feature importance, a SHAP summary on the latest labelled cutoff, and the registered model."""
    importance = pd.Series(model.booster.feature_importance("gain"), index=model.features, name="gain")
    mlflow.log_text(importance.sort_values(ascending=False).to_csv(), "feature_importance.csv")
    latest = training[training["cutoff"] == training["cutoff"].max()].head(SHAP_ROWS)
    shap = model.contributions(latest).abs().mean().rename("mean_abs_shap")
    mlflow.log_text(shap.sort_values(ascending=False).to_csv(), "shap_summary.csv")
    tracking.log_bar_chart(shap.nlargest(20), f"mean |SHAP| ({shap_units}), latest labelled cutoff", "shap_summary.png")

    mlflow.log_param("latest_labelled_cutoff", f"{training['cutoff'].max():%Y-%m-%d}")
    example = training.head(5)
    version = tracking.log_and_register_model(registered_name, model_dir, example[model.features], model.predict(example))
    mlflow.set_tag("registered_version", version)
