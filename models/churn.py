"""The churn classifier: which customers of a snapshot will not buy within the horizon.

Split by time, tune and refit as every model here is (models/training.py); then calibrate:
learn how the tuned model's confidence holds up on the validation cutoffs, a time slice it
never saw, and set the level to the churn rate the labelled cutoffs forecast for the next
window (models/calibration.py). No class reweighting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd

from models.base import Procedure
from models.calibration import Calibrator, Method, fit_calibrator, forecast_rate
from models.metrics import gains_points, precision_recall_points, reliability_points, roc_points
from models.training import BoosterModel, FitReport, TrainingSettings, row_weights, tune_and_refit

TARGET = "churned"
OBJECTIVE = {"objective": "binary", "metric": "binary_logloss"}
# The plots of a churn backtest: how each curve is computed, and its x and y columns.
CURVES = {
    "roc": (roc_points, ("fpr", "tpr")),
    "precision_recall": (precision_recall_points, ("recall", "precision")),
    "gains": (gains_points, ("contacted_share", "positives_share")),
    "calibration": (reliability_points, ("predicted", "observed")),
}


@dataclass(frozen=True)
class ChurnModel(BoosterModel):
    """A booster and its calibration: calibrated churn probabilities for a snapshot (SHAP values in log-odds)."""

    calibrator: Calibrator

    STATE_FILE = "calibration.json"

    def state(self) -> dict:
        return self.calibrator.to_dict()

    @classmethod
    def restored(cls, boosters: dict, state: dict) -> ChurnModel:
        return cls(boosters[cls.BOOSTER], Calibrator.from_dict(state))

    def raw_probabilities(self, snapshot: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self.inputs(snapshot))

    def predict(self, snapshot: pd.DataFrame) -> np.ndarray:
        return self.calibrator(self.raw_probabilities(snapshot))


def churned(frame: pd.DataFrame) -> np.ndarray:
    return frame[TARGET].to_numpy(dtype=int)


def churn_rates(labelled: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per cutoff, its churn rate and its customers, each row counted as the customers it stands for."""
    weights = row_weights(labelled)
    counted = pd.DataFrame({"cutoff": labelled["cutoff"].to_numpy(), "customers": weights, "left": weights * churned(labelled)})
    per_cutoff = counted.groupby("cutoff").sum()
    return per_cutoff["left"] / per_cutoff["customers"], per_cutoff["customers"]


def fit_churn_model(
    labelled: pd.DataFrame,
    horizon_days: int,
    settings: TrainingSettings,
    study: optuna.Study,
    trial_callbacks: Sequence[Callable] = (),
    calibration: Method = "sigmoid",
) -> tuple[ChurnModel, FitReport]:
    """Tune, refit on all labelled snapshots, calibrate: the map's shape from the validation cutoffs,
    its level from the churn rate forecast for the window after the latest labelled cutoff."""
    fitted = tune_and_refit(labelled, churned, horizon_days, settings, OBJECTIVE, study, trial_callbacks)
    validation = fitted.split.validation
    shape = fit_calibrator(fitted.validation_predictions, churned(validation), calibration)
    model = ChurnModel(fitted.booster, shape)
    shape = shape.carried_over(fitted.validation_predictions, model.raw_probabilities(validation))
    rates, customers = churn_rates(labelled)
    rate, latest_cutoffs, rule = forecast_rate(rates, horizon_days, customers)
    if latest_cutoffs is None:  # the long mean: the booster's own level, over every row it learned from
        weights = row_weights(labelled)
        rows, rate, rule = labelled, float((weights * churned(labelled)).sum() / weights.sum()), f"the booster's own level ({rule})"
    else:
        rows, rule = labelled[labelled["cutoff"] == labelled["cutoff"].max()], f"the latest customers brought to {rule}"
    levelled = shape.levelled(model.raw_probabilities(rows), rate, rule, row_weights(rows))
    return dataclasses.replace(model, calibrator=levelled), fitted.report


class ChurnProcedure(Procedure):
    """Who leaves within the horizon: `fit_churn_model` with the `churn` section's calibration."""

    name = "churn"
    model_type = ChurnModel
    loss = "validation_log_loss"
    truth = TARGET
    curves = CURVES
    shap_units = "log-odds"
    headline = ("roc_auc", "top_decile_lift", "brier")  # what `churn train` prints, the first with its interval
    drift_checked = True  # pipeline/score.py reads its reference profile

    def fit(self, labelled, study, trial_callbacks=()):
        return fit_churn_model(labelled, self.horizon_days, self.search, study, trial_callbacks, self.own["calibration"])

    # models/backtest.py imports this module: it is imported where it is used.
    def evaluate(self, fold, model):
        from models.backtest import fold_scores

        return fold_scores(fold, model, self.horizon_days)

    def plot_points(self, scores):
        from models.backtest import curves

        return curves(scores)

    def details(self) -> dict:
        return {"calibration": self.own["calibration"]}


PROCEDURE = ChurnProcedure
