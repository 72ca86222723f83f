"""Stage `train`: fit the churn model on past snapshots, validate by time, log it to MLflow."""

from __future__ import annotations

import json

import mlflow
import pandas as pd

from models import churn
from pipeline import config, io, tracking


def run(params: config.Params) -> dict:
    training = pd.read_parquet(config.TRAINING_SNAPSHOTS)
    features = churn.feature_columns(training)
    split = churn.split_by_time(training, params.score.horizon_days)
    lgb_params = churn.lightgbm_params(params.train.lightgbm, params.train.seed, params.train.num_threads)

    validated = churn.fit_with_early_stopping(
        split, features, lgb_params, params.train.max_rounds, params.train.early_stopping_rounds
    )
    rounds = max(1, validated.best_iteration)
    validation = churn.evaluate(validated, split)
    final = churn.refit(training, features, lgb_params, rounds)

    with io.atomic_path(config.CHURN_MODEL) as tmp:
        final.save_model(tmp)
    metrics = {
        "validation_cutoff": split.validation_cutoff.date().isoformat(),
        "fit_rows": len(split.fit),
        "boosting_rounds": rounds,
        "features": len(features),
        **validation,
    }
    io.write_json(metrics, config.CHURN_METRICS)
    _log_to_mlflow(params, lgb_params, metrics, final, training[features])
    return metrics


def _log_to_mlflow(params: config.Params, lgb_params: dict, metrics: dict, booster, features: pd.DataFrame) -> None:
    mlflow.set_tracking_uri(config.tracking_uri())
    mlflow.set_experiment(params.tracking.experiment)
    with mlflow.start_run(run_name="train"):
        mlflow.log_params({f"lightgbm.{key}": value for key, value in lgb_params.items()})
        mlflow.log_params(
            {
                "horizon_days": params.score.horizon_days,
                "training_cutoffs": params.features.training_cutoffs,
                "cutoff_spacing_days": params.features.cutoff_spacing_days,
                "boosting_rounds": metrics["boosting_rounds"],
                "features": metrics["features"],
            }
        )
        for group in ("model", "recency_baseline"):
            mlflow.log_metrics({f"{group}.{name}": value for name, value in metrics[group].items()})
        mlflow.log_dict(json.loads(config.FEATURES_METRICS.read_text()), "features.json")
        example = features.head(5)
        tracking.log_churn_model(config.CHURN_MODEL, example, churn.predict_churn(booster, example))
