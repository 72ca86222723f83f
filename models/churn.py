"""The churn classifier: which customers of a snapshot will not buy within the horizon.

Split by time, tune and refit as every model here is (models/training.py); then calibrate:
learn how the tuned model's confidence holds up on the validation cutoffs, a time slice it
never saw, and set the level on the rows the refitted booster learned from
(models/calibration.py). No class reweighting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import dataclasses
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd

from models.calibration import Calibrator, Method, fit_calibrator
from models.training import BoosterModel, FitReport, TrainingSettings, tune_and_refit

TARGET = "churned"
OBJECTIVE = {"objective": "binary", "metric": "binary_logloss"}


@dataclass(frozen=True)
class ChurnModel(BoosterModel):
    """A booster and its calibration: calibrated churn probabilities for a snapshot (SHAP values in log-odds)."""

    calibrator: Calibrator

    def raw_probabilities(self, snapshot: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self.inputs(snapshot))

    def predict(self, snapshot: pd.DataFrame) -> np.ndarray:
        return self.calibrator(self.raw_probabilities(snapshot))


def churned(frame: pd.DataFrame) -> np.ndarray:
    return frame[TARGET].to_numpy(dtype=int)


def fit_churn_model(
    labelled: pd.DataFrame,
    horizon_days: int,
    settings: TrainingSettings,
    study: optuna.Study,
    trial_callbacks: Sequence[Callable] = (),
    calibration: Method = "sigmoid",
) -> tuple[ChurnModel, FitReport]:
    """Tune, refit on all labelled snapshots, calibrate: the map's shape from the validation cutoffs, its level from all."""
    fitted = tune_and_refit(labelled, churned, horizon_days, settings, OBJECTIVE, study, trial_callbacks)
    model = ChurnModel(fitted.booster, fit_calibrator(fitted.validation_predictions, churned(fitted.split.validation), calibration))
    levelled = model.calibrator.relevelled(model.raw_probabilities(labelled), churned(labelled))
    return dataclasses.replace(model, calibrator=levelled), fitted.report
