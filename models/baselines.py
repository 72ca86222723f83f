"""Classic rankings the models must beat, computed from the same snapshot rows.

Churn:

- recency: the longer since the last purchase, the likelier the churn;
- RFM cells: the churn rate that past customers of the same recency x frequency x monetary
  quintile cell showed (learned on the training snapshots, applied to new ones);
- BG/NBD: the buy-till-you-die model (Fader, Hardie & Lee 2005), fitted on the customers'
  history before the cutoff; fewer expected purchases in the horizon = likelier churn. Ranking
  by 1 - P(alive) instead fails: a one-time buyer has P(alive) = 1 under BG/NBD.

Spend in the horizon: BG/NBD or Pareto/NBD expected purchases x Gamma-Gamma expected spend per
purchase, fitted on the customers' history before the cutoff.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.btyd import Btyd

RFM_COLUMNS = {"recency": "recency_days", "frequency": "orders", "monetary": "net_spend"}
RFM_QUANTILES = 5
RFM_PRIOR_ROWS = 20  # a sparse cell's rate is pulled toward the overall rate as if by this many rows
NEVER_BOUGHT_DAYS = 1e9


def recency_scores(snapshot: pd.DataFrame) -> np.ndarray:
    # A subscriber who never bought is as far from a purchase as anyone can be.
    return snapshot["recency_days"].to_numpy(dtype=float, na_value=NEVER_BOUGHT_DAYS)


class RfmCellRates:
    """Churn rate per R x F x M quintile cell of the training rows, shrunk toward the overall rate."""

    def __init__(self, training: pd.DataFrame, target: str = "churned"):
        self.edges = {
            name: np.unique(np.nanquantile(training[column].to_numpy(dtype=float), np.linspace(0, 1, RFM_QUANTILES + 1)[1:-1]))
            for name, column in RFM_COLUMNS.items()
        }
        cells = self._cells(training)
        churned = training[target].astype(float).to_numpy()
        self.overall = float(churned.mean())
        stats = pd.DataFrame({"cell": cells, "churned": churned}).groupby("cell")["churned"].agg(["sum", "count"])
        self.rates = ((stats["sum"] + RFM_PRIOR_ROWS * self.overall) / (stats["count"] + RFM_PRIOR_ROWS)).to_dict()

    def _cells(self, snapshot: pd.DataFrame) -> np.ndarray:
        scores = []
        for name, column in RFM_COLUMNS.items():
            values = snapshot[column].to_numpy(dtype=float)
            score = np.searchsorted(self.edges[name], values, side="right").astype(object)
            score[np.isnan(values)] = "-"
            scores.append(score.astype(str))
        return np.char.add(np.char.add(scores[0], scores[1]), scores[2])

    def __call__(self, snapshot: pd.DataFrame) -> np.ndarray:
        return np.array([self.rates.get(cell, self.overall) for cell in self._cells(snapshot)])


def bgnbd_expected_purchases(snapshot: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """Expected purchases in the horizon per customer, BG/NBD fitted on the snapshot's own history."""
    return Btyd.fit(snapshot, spend=False).expected_purchases(snapshot, horizon_days)


PROBABILITIES = ("rfm_cells",)  # the baselines whose scores are churn probabilities (the others only rank)


def baseline_scores(training: pd.DataFrame, evaluation: pd.DataFrame, horizon_days: int) -> dict[str, np.ndarray]:
    """Each baseline's churn score for the evaluation rows: the higher, the likelier the churn."""
    return {
        "recency": recency_scores(evaluation),
        "rfm_cells": RfmCellRates(training)(evaluation),
        "bgnbd": -bgnbd_expected_purchases(evaluation, horizon_days),
    }


def value_baseline_scores(evaluation: pd.DataFrame, horizon_days: int) -> dict[str, np.ndarray]:
    """Each BTYD model's expected spend in the horizon for the evaluation rows."""
    return {
        "bgnbd_gg": Btyd.fit(evaluation, "bgnbd").expected_spend(evaluation, horizon_days),
        "pnbd_gg": Btyd.fit(evaluation, "pareto_nbd").expected_spend(evaluation, horizon_days),
    }
