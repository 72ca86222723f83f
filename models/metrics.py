"""Metrics of a ranking or a probability against what happened."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def top_fraction_lift(truth: np.ndarray, scores: np.ndarray, fraction: float = 0.1) -> float:
    """Positive rate among the top `fraction` by score, over the overall positive rate."""
    count = max(1, int(round(len(scores) * fraction)))
    # A stable sort on the negated score keeps ties in input order: the same inputs, the same lift.
    top = np.argsort(-scores, kind="stable")[:count]
    return float(truth[top].mean() / truth.mean())


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
        metrics["log_loss"] = float(log_loss(truth, np.clip(scores, 1e-15, 1 - 1e-15)))
    return metrics
