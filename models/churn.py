"""The churn classifier: which customers of a snapshot will not buy within the horizon.

Pure functions from snapshot tables to a fitted booster, probabilities and metrics.
Validation is by time: fit on earlier cutoffs whose label windows end before the validation
cutoff, validate on the latest, then refit on every labelled snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.snapshots import LABEL_COLUMNS
from models.metrics import classification_metrics

KEY_COLUMNS = ("customer_id", "cutoff")
TARGET = "churned"

# What the pipeline relies on, whatever params.yaml tunes: the objective, and the same model for the same data.
FIXED_LIGHTGBM = {"objective": "binary", "verbose": -1, "deterministic": True, "force_row_wise": True}


@dataclass(frozen=True)
class TimeSplit:
    fit: pd.DataFrame
    validation: pd.DataFrame
    validation_cutoff: pd.Timestamp


def feature_columns(snapshot: pd.DataFrame) -> list[str]:
    excluded = set(KEY_COLUMNS) | set(LABEL_COLUMNS)
    return [column for column in snapshot.columns if column not in excluded]


def split_by_time(training: pd.DataFrame, horizon_days: int) -> TimeSplit:
    """Validate on the latest cutoff; fit on cutoffs whose label window has closed by then."""
    cutoffs = sorted(training["cutoff"].unique())
    validation_cutoff = pd.Timestamp(cutoffs[-1])
    closed_by = validation_cutoff - pd.Timedelta(days=horizon_days)
    fit = training[training["cutoff"] <= closed_by]
    if fit.empty:
        raise ValueError(
            f"no training cutoff has a label window that ends by the validation cutoff {validation_cutoff:%Y-%m-%d}: "
            f"use more cutoffs or a wider spacing (features.training_cutoffs, features.cutoff_spacing_days)"
        )
    return TimeSplit(fit=fit, validation=training[training["cutoff"] == validation_cutoff], validation_cutoff=validation_cutoff)


def model_inputs(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The feature columns as LightGBM takes them: text (plan, channel, country ...) as categories.

    The booster keeps the training categories and maps scoring data onto them, so a value
    first seen at scoring time is treated as missing rather than shifting the codes.
    """
    inputs = frame[features].copy()
    for column in features:
        if not (pd.api.types.is_numeric_dtype(inputs[column]) or pd.api.types.is_bool_dtype(inputs[column])):
            inputs[column] = inputs[column].astype("category")
    return inputs


def lightgbm_params(tunables: dict, seed: int, num_threads: int) -> dict:
    return tunables | FIXED_LIGHTGBM | {"seed": seed, "num_threads": num_threads}


def _dataset(frame: pd.DataFrame, features: list[str], reference: lgb.Dataset | None = None) -> lgb.Dataset:
    return lgb.Dataset(model_inputs(frame, features), label=frame[TARGET].astype(int), reference=reference, free_raw_data=False)


def fit_with_early_stopping(
    split: TimeSplit, features: list[str], params: dict, max_rounds: int, early_stopping_rounds: int
) -> lgb.Booster:
    train_set = _dataset(split.fit, features)
    valid_set = _dataset(split.validation, features, reference=train_set)
    return lgb.train(
        params,
        train_set,
        num_boost_round=max_rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
    )


def refit(training: pd.DataFrame, features: list[str], params: dict, rounds: int) -> lgb.Booster:
    return lgb.train(params, _dataset(training, features), num_boost_round=rounds)


def predict_churn(booster: lgb.Booster, snapshot: pd.DataFrame) -> np.ndarray:
    return booster.predict(model_inputs(snapshot, booster.feature_name()))


def recency_baseline(snapshot: pd.DataFrame) -> np.ndarray:
    """The oldest rule in the book: the longer since the last purchase, the likelier the churn."""
    return snapshot["recency_days"].to_numpy(dtype=float)


def evaluate(booster: lgb.Booster, split: TimeSplit) -> dict[str, dict[str, float]]:
    """Model and recency baseline on the same validation rows."""
    truth = split.validation[TARGET].to_numpy(dtype=int)
    return {
        "model": classification_metrics(truth, predict_churn(booster, split.validation)),
        "recency_baseline": classification_metrics(truth, recency_baseline(split.validation), scores_are_probabilities=False),
    }
