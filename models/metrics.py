"""Metrics and curves of a ranking or a probability against what happened."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, precision_recall_curve, roc_auc_score, roc_curve

CURVE_POINTS = 101  # enough for a smooth line, small enough for a DVC plot file


def top_fraction_lift(truth: np.ndarray, scores: np.ndarray, fraction: float = 0.1) -> float:
    """Positive rate among the top `fraction` by score, over the overall positive rate."""
    return float(truth[_top(scores, fraction)].mean() / truth.mean())


def _ranking(scores: np.ndarray) -> np.ndarray:
    # A stable sort on the negated score keeps ties in input order: the same inputs, the same ranking.
    return np.argsort(-np.asarray(scores, dtype=float), kind="stable")


def _top(scores: np.ndarray, fraction: float) -> np.ndarray:
    """The positions of the highest `fraction` of scores (at least one)."""
    return _ranking(scores)[: max(1, int(round(len(scores) * fraction)))]


def _equal_count_bins(scores: np.ndarray, bins: int) -> np.ndarray:
    """Per row, its bin (0 = the highest scores) of `bins` bins of equal count by score."""
    order = _ranking(scores)
    binned = np.empty(len(order), dtype=int)
    binned[order] = np.arange(len(order)) * bins // len(order)
    return binned


def classification_metrics(truth: np.ndarray, scores: np.ndarray, *, scores_are_probabilities: bool = True) -> dict[str, float]:
    truth = np.asarray(truth, dtype=int)
    scores = np.asarray(scores, dtype=float)
    metrics = {
        "rows": float(len(truth)),
        "positive_rate": float(truth.mean()),
        "roc_auc": float(roc_auc_score(truth, scores)),
        "pr_auc": float(average_precision_score(truth, scores)),
        "top_decile_lift": top_fraction_lift(truth, scores),
    }
    if scores_are_probabilities:
        metrics["brier"] = float(brier_score_loss(truth, scores))
        metrics["log_loss"] = float(log_loss(truth, np.clip(scores, 1e-15, 1 - 1e-15), labels=[0, 1]))
        metrics["calibration_error"] = calibration_error(truth, scores)
    return metrics


def _thin(frame: pd.DataFrame, points: int = CURVE_POINTS) -> pd.DataFrame:
    """At most `points` rows, evenly spaced, always keeping the first and the last."""
    if len(frame) <= points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


def roc_points(truth: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    fpr, tpr, _ = roc_curve(truth, scores)
    return _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr}))


def precision_recall_points(truth: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    precision, recall, _ = precision_recall_curve(truth, scores)
    return _thin(pd.DataFrame({"recall": recall[::-1], "precision": precision[::-1]}))


def gains_points(truth: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Cumulative gains: contacting the top x% by score reaches y% of all positives (or of all spend)."""
    truth = np.asarray(truth, dtype=float)
    reached = np.concatenate([[0], np.cumsum(truth[_ranking(scores)])]) / truth.sum()
    contacted = np.arange(len(truth) + 1) / len(truth)
    return _thin(pd.DataFrame({"contacted_share": contacted, "positives_share": reached}))


def reliability_points(truth: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against the observed rate, in bins of equal count."""
    probabilities = np.asarray(probabilities, dtype=float)
    # Binned from the lowest probability up, so the curve reads left to right.
    frame = pd.DataFrame({"truth": np.asarray(truth, dtype=float), "predicted": probabilities, "bin": _equal_count_bins(-probabilities, bins)})
    grouped = frame.groupby("bin").agg(predicted=("predicted", "mean"), observed=("truth", "mean"), rows=("truth", "size"))
    return grouped.reset_index(drop=True)


def calibration_error(truth: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: mean |predicted - observed| over bins of equal count (rows weigh alike)."""
    points = reliability_points(truth, probabilities, bins)
    return float(np.average((points["predicted"] - points["observed"]).abs(), weights=points["rows"]))


def gini(actual: np.ndarray, scores: np.ndarray) -> float:
    """How far ordering by `scores` concentrates `actual` ahead of the even share (0 = random)."""
    actual = np.asarray(actual, dtype=float)
    captured = np.cumsum(actual[_ranking(scores)]) / actual.sum()
    even = np.arange(1, len(actual) + 1) / len(actual)
    return float((captured - even).sum() / len(actual))


def value_metrics(actual: np.ndarray, predicted: np.ndarray, top_fraction: float = 0.1) -> dict[str, float]:
    """How well predicted customer value ranks and totals what customers then spent."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    total = actual.sum()
    return {
        "rows": float(len(actual)),
        "spearman": float(pd.Series(actual).corr(pd.Series(predicted), method="spearman")),
        "normalised_gini": gini(actual, predicted) / gini(actual, actual),
        "top_decile_share": float(actual[_top(predicted, top_fraction)].sum() / total),
        "top_decile_share_perfect": float(actual[_top(actual, top_fraction)].sum() / total),
        "mae": float(np.abs(actual - predicted).mean()),
        "total_ratio": float(predicted.sum() / total),
    }


def decile_table(actual: np.ndarray, predicted: np.ndarray, deciles: int = 10) -> pd.DataFrame:
    """Customers in deciles of predicted value (1 = highest): mean predicted against mean actual."""
    frame = pd.DataFrame({"decile": _equal_count_bins(predicted, deciles) + 1, "predicted": np.asarray(predicted, dtype=float), "actual": np.asarray(actual, dtype=float)})
    return frame.groupby("decile").agg(customers=("actual", "size"), mean_predicted=("predicted", "mean"), mean_actual=("actual", "mean")).reset_index()
