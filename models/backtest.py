"""Backtest: the whole training procedure replayed at past cutoffs, next to the baselines.

At each fold cutoff c the procedure sees only snapshots whose label windows closed by c,
exactly as it would have on that day, and is scored on the customers of the snapshot at c,
together with every baseline, on the same rows. The churn and the value model share the folds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.baselines import PROBABILITIES, baseline_scores, value_baseline_scores
from models.churn import CURVES, TARGET, ChurnModel
from models.clv import ACTUAL_SPEND, VALUE_CURVES
from models.errors import InsufficientData
from models.metrics import (
    METRIC_DIRECTION,
    advantage,
    classification_metrics,
    value_metrics,
)
from models.uncertainty import DRAWN_CUSTOMERS, bootstrap, interval

MODEL = "model"
UNCALIBRATED = "model_uncalibrated"
# The two columns of a champion/challenger comparison (models/promotion.py).
CHALLENGER = "challenger"
CHAMPION = "champion"


@dataclass(frozen=True)
class Fold:
    cutoff: pd.Timestamp
    labelled: pd.DataFrame  # every snapshot whose label window closed by the cutoff
    evaluation: pd.DataFrame  # the snapshot at the cutoff, with what happened next


def folds(
    training: pd.DataFrame, horizon_days: int, count: int, snapshot_at: Callable[[pd.Timestamp], pd.DataFrame] | None = None
) -> list[Fold]:
    """The latest `count` cutoffs at which the procedure could have run (with a labelled
    snapshot before them), oldest first; fewer where the history holds fewer.

    Each is judged on `snapshot_at(cutoff)`, by default `training`'s rows at the cutoff: where
    the procedure learns from a sample of the rows, it is still judged on every customer.
    """
    usable = []
    for cutoff in sorted(training["cutoff"].unique(), reverse=True)[:count]:
        cutoff = pd.Timestamp(cutoff)
        labelled = training[training["cutoff"] <= cutoff - pd.Timedelta(days=horizon_days)]
        if labelled.empty:
            break
        evaluation = training[training["cutoff"] == cutoff] if snapshot_at is None else snapshot_at(cutoff)
        usable.append(Fold(cutoff, labelled, evaluation))
    if not usable:
        raise InsufficientData(
            f"no training cutoff has a labelled snapshot a horizon ({horizon_days} days) before it, so the procedure "
            "cannot be backtested: the history must span at least two horizons plus features.min_history_days "
            "before as_of (docs/your_data.md)"
        )
    return usable[::-1]


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
    return method in (MODEL, UNCALIBRATED, CHALLENGER, CHAMPION) or method in PROBABILITIES


def methods(scores: pd.DataFrame) -> list[str]:
    return [column for column in scores.columns if column not in ("customer_id", "cutoff", TARGET, ACTUAL_SPEND)]


def rows_metrics(rows: pd.DataFrame, method: str) -> dict[str, float]:
    """`method`'s churn or value metrics (as the rows hold) on `rows`."""
    if ACTUAL_SPEND in rows:
        return value_metrics(rows[ACTUAL_SPEND].to_numpy(), rows[method].to_numpy())
    return classification_metrics(rows[TARGET].to_numpy(), rows[method].to_numpy(), scores_are_probabilities=is_probability(method))


def fold_metrics(scores: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """{fold cutoff: {method: metrics}}, churn metrics or value metrics as the scores hold."""
    return {
        f"{cutoff:%Y-%m-%d}": {method: rows_metrics(rows, method) for method in methods(rows)}
        for cutoff, rows in scores.groupby("cutoff", sort=True)
    }


def mean_over_folds(scores: pd.DataFrame, chosen: list[str] | None = None) -> dict[str, float]:
    """{"method|metric": mean over the folds}: the backtest's estimate of each metric (each fold weighs alike)."""
    per_fold = fold_metrics(scores if chosen is None else scores[["customer_id", "cutoff", *_truth(scores), *chosen]])
    return pd.DataFrame([{f"{method}|{metric}": value for method, metrics in fold.items() for metric, value in metrics.items()}
                         for fold in per_fold.values()]).mean().to_dict()


def _truth(scores: pd.DataFrame) -> list[str]:
    return [column for column in (TARGET, ACTUAL_SPEND) if column in scores]


def summary(scores: pd.DataFrame, replicates: int, seed: int) -> tuple[dict, dict]:
    """Each method's metrics over the folds with a 95% interval, and the model's paired advantage over each baseline.

    Returns ({method: {metric: {mean, low, high}}}, {baseline: {metric: {advantage, low, high}}}): the
    advantage is the model's metric minus the baseline's, signed so that positive means the model
    is better; both from the same customer resamples (models/uncertainty.py).
    """
    estimate, draws = bootstrap(scores, mean_over_folds, replicates, seed, DRAWN_CUSTOMERS)
    overall: dict[str, dict] = {}
    for key, value in estimate.items():
        method, metric = key.split("|")
        low, high = interval(draws[key])
        overall.setdefault(method, {})[metric] = {"mean": value, "low": low, "high": high}
    paired: dict[str, dict] = {}
    for method, metrics in overall.items():
        if method in (MODEL, UNCALIBRATED):
            continue
        for metric in metrics.keys() & overall[MODEL].keys() & METRIC_DIRECTION.keys():
            sign = METRIC_DIRECTION[metric]
            low, high = interval(sign * (draws[f"{MODEL}|{metric}"] - draws[f"{method}|{metric}"]))
            paired.setdefault(method, {})[metric] = {"advantage": advantage(metric, estimate[f"{MODEL}|{metric}"], estimate[f"{method}|{metric}"]), "low": low, "high": high}
        paired[method] = dict(sorted(paired[method].items()))
    return overall, paired


def paired_advantage(rows: pd.DataFrame, metric: str, replicates: int, seed: int) -> dict[str, float]:
    """The challenger's `metric` minus the champion's over the folds `rows` hold, signed so that positive
    is better, with its 95% interval from customer resamples; and each one's own figure."""

    def statistic(frame: pd.DataFrame) -> dict[str, float]:
        per_fold = [{role: rows_metrics(fold, role)[metric] for role in (CHALLENGER, CHAMPION)} for _, fold in frame.groupby("cutoff", sort=True)]
        return pd.DataFrame(per_fold).mean().to_dict()

    estimate, draws = bootstrap(rows, statistic, replicates, seed, DRAWN_CUSTOMERS)
    low, high = interval(METRIC_DIRECTION[metric] * (draws[CHALLENGER] - draws[CHAMPION]))
    return {"advantage": advantage(metric, estimate[CHALLENGER], estimate[CHAMPION]), "low": low, "high": high} | estimate


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
