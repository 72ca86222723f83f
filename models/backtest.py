"""Backtest: the whole training procedure replayed at past cutoffs, next to the baselines.

At each fold cutoff c the procedure sees only snapshots whose label windows closed by c,
exactly as it would have on that day, and is scored on the customers of the snapshot at c,
together with every baseline, on the same rows. The churn and the value model share the folds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.baselines import PROBABILITIES, baseline_scores, value_baseline_scores
from models.churn import TARGET, ChurnModel
from models.metrics import classification_metrics, decile_table, gains_points, precision_recall_points, reliability_points, roc_points, value_metrics
from models.training import split_by_time

MODEL = "model"
UNCALIBRATED = "model_uncalibrated"
ACTUAL_SPEND = "actual_spend"


@dataclass(frozen=True)
class Fold:
    cutoff: pd.Timestamp
    labelled: pd.DataFrame  # every snapshot whose label window closed by the cutoff
    evaluation: pd.DataFrame  # the snapshot at the cutoff, with what happened next


def folds(training: pd.DataFrame, horizon_days: int, count: int, validation_cutoffs: int = 1) -> list[Fold]:
    """The latest `count` cutoffs at which the procedure could have run; oldest first."""
    usable = []
    for cutoff in sorted(training["cutoff"].unique(), reverse=True):
        labelled = training[training["cutoff"] <= pd.Timestamp(cutoff) - pd.Timedelta(days=horizon_days)]
        try:
            split_by_time(labelled, horizon_days, validation_cutoffs)
        except ValueError:
            continue
        usable.append(Fold(pd.Timestamp(cutoff), labelled, training[training["cutoff"] == cutoff]))
        if len(usable) == count:
            return usable[::-1]
    raise ValueError(
        f"a {count}-fold backtest needs {count} cutoffs each with an earlier history to fit and validate on "
        f"({validation_cutoffs} validation cutoffs, labels {horizon_days} days long); found {len(usable)}: "
        f"raise features.training_cutoffs or lower train.backtest_folds or train.validation_cutoffs"
    )


def fold_scores(fold: Fold, model: ChurnModel, horizon_days: int) -> pd.DataFrame:
    """Per evaluation customer: what happened, the model's probability and every baseline's score."""
    scores = pd.DataFrame(
        {
            "customer_id": fold.evaluation["customer_id"].to_numpy(),
            "cutoff": fold.cutoff,
            TARGET: fold.evaluation[TARGET].to_numpy(dtype=int),
            MODEL: model.predict(fold.evaluation),
            # The same booster without its calibration map: shows what calibration buys (or costs).
            UNCALIBRATED: model.raw_probabilities(fold.evaluation),
        }
    )
    return scores.assign(**baseline_scores(fold.labelled, fold.evaluation, horizon_days))


def value_fold_scores(fold: Fold, actual_spend: np.ndarray, predicted_spend: np.ndarray, horizon_days: int) -> pd.DataFrame:
    """Per evaluation customer: what they spent in the horizon, the model's prediction and every baseline's."""
    scores = pd.DataFrame(
        {
            "customer_id": fold.evaluation["customer_id"].to_numpy(),
            "cutoff": fold.cutoff,
            ACTUAL_SPEND: actual_spend,
            MODEL: predicted_spend,
        }
    )
    return scores.assign(**value_baseline_scores(fold.evaluation, horizon_days))


def is_probability(method: str) -> bool:
    return method in (MODEL, UNCALIBRATED) or method in PROBABILITIES


def methods(scores: pd.DataFrame) -> list[str]:
    return [column for column in scores.columns if column not in ("customer_id", "cutoff", TARGET, ACTUAL_SPEND)]


def fold_metrics(scores: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """{fold cutoff: {method: metrics}}, churn metrics or value metrics as the scores hold."""
    result = {}
    for cutoff, rows in scores.groupby("cutoff", sort=True):
        if ACTUAL_SPEND in rows:
            measured = {method: value_metrics(rows[ACTUAL_SPEND].to_numpy(), rows[method].to_numpy()) for method in methods(rows)}
        else:
            truth = rows[TARGET].to_numpy()
            measured = {
                method: classification_metrics(truth, rows[method].to_numpy(), scores_are_probabilities=is_probability(method))
                for method in methods(rows)
            }
        result[f"{cutoff:%Y-%m-%d}"] = measured
    return result


def summary(per_fold: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """{method: {metric: {mean, sd}}} over the folds (sd with n - 1: the spread a new fold would show)."""
    first = next(iter(per_fold.values()))
    result: dict[str, dict[str, dict[str, float]]] = {}
    for method, metrics in first.items():
        result[method] = {}
        for metric in metrics:
            values = np.array([per_fold[fold][method][metric] for fold in per_fold])
            result[method][metric] = {
                "mean": float(values.mean()),
                "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            }
    return result


# Each curve: how it is computed, and its x and y columns.
CURVES = {
    "roc": (roc_points, ("fpr", "tpr")),
    "precision_recall": (precision_recall_points, ("recall", "precision")),
    "gains": (gains_points, ("contacted_share", "positives_share")),
    "calibration": (reliability_points, ("predicted", "observed")),
}


VALUE_CURVES = {
    "gains": (gains_points, ("contacted_share", "positives_share")),
    "deciles": (decile_table, ("decile", "mean_actual")),
}


def value_curves(scores: pd.DataFrame) -> dict[str, dict[str, pd.DataFrame]]:
    """{curve: {method: points}} over every fold's rows: the share of spend reached, spend per decile."""
    actual = scores[ACTUAL_SPEND].to_numpy()
    return {kind: {method: points(actual, scores[method].to_numpy()) for method in methods(scores)} for kind, (points, _) in VALUE_CURVES.items()}


def curves(scores: pd.DataFrame) -> dict[str, dict[str, pd.DataFrame]]:
    """{curve: {method: points}} over every fold's rows; calibration only for probabilities."""
    truth = scores[TARGET].to_numpy()
    result = {}
    for kind, (points, _) in CURVES.items():
        # Only probabilities have a calibration; the uncalibrated booster ranks as the model does.
        shown = [method for method in methods(scores) if (is_probability(method) if kind == "calibration" else method != UNCALIBRATED)]
        result[kind] = {method: points(truth, scores[method].to_numpy()) for method in shown}
    return result
