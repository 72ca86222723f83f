"""Metrics and curves of a ranking or a probability against what happened.

The metrics a bootstrap recomputes hundreds of times (models/uncertainty.py) are written in
NumPy: scikit-learn's input checks cost more than the arithmetic at these sizes (12.9 ms
against 1.2 ms for one call on 2,800 rows). tests/models/test_metrics.py holds each to
scikit-learn's value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import precision_recall_curve, roc_curve

CURVE_POINTS = 101  # enough for a smooth line, small enough for a DVC plot file

# +1: higher is better; -1: lower is better. Metrics without a direction (rows, positive_rate,
# total_ratio: best at 1) are reported but never compared.
METRIC_DIRECTION = {
    "roc_auc": 1, "pr_auc": 1, "top_decile_lift": 1, "brier": -1, "log_loss": -1, "calibration_error": -1,
    "spearman": 1, "normalised_gini": 1, "top_decile_share": 1, "mae": -1,
}


def advantage(metric: str, value: float, reference: float) -> float:
    """How much better `value` is than `reference` on `metric` (negative: worse)."""
    return METRIC_DIRECTION[metric] * (value - reference)


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


def roc_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """The chance a positive is ranked above a negative, ties counting half (Mann-Whitney U)."""
    positives = truth.sum()
    negatives = len(truth) - positives
    if not positives or not negatives:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[truth == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def average_precision(truth: np.ndarray, scores: np.ndarray) -> float:
    """Precision averaged over the positives, at each distinct score taken as the threshold."""
    order = np.argsort(-scores, kind="stable")
    ranked_truth, ranked_scores = truth[order], scores[order]
    last_of_tie = np.r_[ranked_scores[1:] != ranked_scores[:-1], True]
    hits = np.cumsum(ranked_truth)[last_of_tie]
    taken = np.flatnonzero(last_of_tie) + 1
    if not hits[-1]:
        return float("nan")
    gained = np.diff(np.r_[0, hits])
    return float((gained * hits / taken).sum() / hits[-1])


def classification_metrics(truth: np.ndarray, scores: np.ndarray, *, scores_are_probabilities: bool = True) -> dict[str, float]:
    truth = np.asarray(truth, dtype=int)
    scores = np.asarray(scores, dtype=float)
    metrics = {
        "rows": float(len(truth)),
        "positive_rate": float(truth.mean()),
        "roc_auc": roc_auc(truth, scores),
        "pr_auc": average_precision(truth, scores),
        "top_decile_lift": top_fraction_lift(truth, scores),
    }
    if scores_are_probabilities:
        clipped = np.clip(scores, 1e-15, 1 - 1e-15)
        metrics["brier"] = float(np.mean((scores - truth) ** 2))
        metrics["log_loss"] = float(-np.mean(truth * np.log(clipped) + (1 - truth) * np.log1p(-clipped)))
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
    probabilities = np.asarray(probabilities, dtype=float)
    binned = _equal_count_bins(-probabilities, bins)
    rows = np.bincount(binned, minlength=bins)
    gap = np.bincount(binned, weights=probabilities - np.asarray(truth, dtype=float), minlength=bins)
    return float(np.abs(gap).sum() / rows.sum())


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
