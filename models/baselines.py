"""Classic churn rankings the model must beat, computed from the same snapshot rows.

- recency: the longer since the last purchase, the likelier the churn;
- RFM cells: the churn rate that past customers of the same recency x frequency x monetary
  quintile cell showed (learned on the training snapshots, applied to new ones);
- BG/NBD: the buy-till-you-die model (Fader, Hardie & Lee 2005), fitted on the customers'
  history before the cutoff; fewer expected purchases in the horizon = likelier churn. Ranking
  by 1 - P(alive) instead fails: a one-time buyer has P(alive) = 1 under BG/NBD.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter
from lifetimes.utils import ConvergenceError

RFM_COLUMNS = {"recency": "recency_days", "frequency": "orders", "monetary": "net_spend"}
RFM_QUANTILES = 5
RFM_PRIOR_ROWS = 20  # a sparse cell's rate is pulled toward the overall rate as if by this many rows
DAYS_PER_WEEK = 7.0
NEVER_BOUGHT_DAYS = 1e9
BGNBD_PENALIZERS = (0.0, 0.001, 0.01, 0.1)


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


def _whole_days(days_before_cutoff: pd.Series) -> np.ndarray:
    """Fractional days before the cutoff -> whole days before the last day that precedes it."""
    return np.ceil(days_before_cutoff.to_numpy(dtype=float) - 1e-9) - 1


def btyd_summary(snapshot: pd.DataFrame) -> pd.DataFrame:
    """BG/NBD's inputs from the snapshot features: repeat purchase days x, t_x and T, in weeks.

    Counted in whole days up to the last day before the cutoff, as Fader and Hardie (and
    lifetimes' `summary_data_from_transaction_data` with that day as `observation_period_end`)
    count them, so the published CDNOW estimates come out of this pipeline's own features.
    """
    observed_days = _whole_days(snapshot["tenure_days"])
    return pd.DataFrame(
        {
            "frequency": snapshot["purchase_days"].to_numpy(dtype=float) - 1,
            "recency": (observed_days - _whole_days(snapshot["recency_days"])) / DAYS_PER_WEEK,
            "T": observed_days / DAYS_PER_WEEK,
        },
        index=snapshot.index,
    )


@contextlib.contextmanager
def _quiet_lifetimes() -> Iterator[None]:
    """lifetimes overflows inside its optimiser's trial steps and prints the optimiser's state
    when a fit fails; both are handled by the caller, so neither reaches the user."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def fit_bgnbd(summary: pd.DataFrame) -> BetaGeoFitter:
    """BG/NBD by maximum likelihood; if that fails to converge, with the smallest L2 penalty that does."""
    buyers = summary.dropna()
    for penalizer in BGNBD_PENALIZERS:
        fitter = BetaGeoFitter(penalizer_coef=penalizer)
        try:
            with _quiet_lifetimes():
                return fitter.fit(buyers["frequency"], buyers["recency"], buyers["T"])
        except ConvergenceError:
            continue
    raise ConvergenceError(f"BG/NBD did not converge with any penalizer in {BGNBD_PENALIZERS}")


def bgnbd_expected_purchases(snapshot: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """Expected purchases in the horizon per customer (0 for a customer without a purchase yet)."""
    summary = btyd_summary(snapshot)
    fitter = fit_bgnbd(summary)
    with _quiet_lifetimes():
        expected = fitter.conditional_expected_number_of_purchases_up_to_time(
            horizon_days / DAYS_PER_WEEK, summary["frequency"], summary["recency"], summary["T"]
        )
    return np.nan_to_num(np.asarray(expected, dtype=float), nan=0.0)


PROBABILITIES = ("rfm_cells",)  # the baselines whose scores are churn probabilities (the others only rank)


def baseline_scores(training: pd.DataFrame, evaluation: pd.DataFrame, horizon_days: int) -> dict[str, np.ndarray]:
    """Each baseline's churn score for the evaluation rows: the higher, the likelier the churn."""
    return {
        "recency": recency_scores(evaluation),
        "rfm_cells": RfmCellRates(training)(evaluation),
        "bgnbd": -bgnbd_expected_purchases(evaluation, horizon_days),
    }
